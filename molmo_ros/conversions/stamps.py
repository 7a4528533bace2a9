"""builtin_interfaces/Time <-> nanoseconds and seconds; the stamp of a serialized message without decoding it."""

from __future__ import annotations

import struct
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


def serialized_header(data: bytes) -> tuple[int, str]:
    """(stamp in ns, frame_id) of a serialized message that starts with a std_msgs/Header (sensor_msgs/Image,
    CameraInfo ...), read from its CDR bytes: a 4-byte encapsulation (byte 1: 1 little-, 0 big-endian), int32
    sec, uint32 nanosec, uint32 length of frame_id including its NUL, its bytes. Hand-read because decoding
    the whole message (a 1.2 MB image) only to learn its stamp is the cost this exists to avoid.

    Raises ValueError for data too short or not CDR.
    """
    if len(data) < 16 or data[0] != 0 or data[1] not in (0, 1):
        raise ValueError(f"not a CDR-serialized message ({len(data)} bytes)")
    order = "<" if data[1] == 1 else ">"
    sec, nanosec, length = struct.unpack_from(f"{order}iII", data, 4)
    if length < 1 or 16 + length > len(data):
        raise ValueError(f"frame_id of {length} bytes does not fit a {len(data)}-byte message")
    frame_id = bytes(data[16 : 16 + length - 1]).decode("utf-8", errors="replace")
    return sec * 1_000_000_000 + nanosec, frame_id
