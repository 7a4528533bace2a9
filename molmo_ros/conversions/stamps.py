"""builtin_interfaces/Time <-> nanoseconds and seconds."""

from __future__ import annotations

from typing import Any


def stamp_ns(stamp: Any) -> int:
    """builtin_interfaces/Time -> nanoseconds."""
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def time_msg(nanoseconds: int) -> Any:
    """Nanoseconds -> builtin_interfaces/Time."""
    from builtin_interfaces.msg import Time

    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def stamp_seconds(stamp: Any) -> float:
    """builtin_interfaces/Time -> seconds."""
    return stamp.sec + 1e-9 * stamp.nanosec


def time_from_seconds(seconds: float) -> Any:
    """Seconds -> builtin_interfaces/Time."""
    return time_msg(round(seconds * 1e9))
