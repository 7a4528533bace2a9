"""The latest synchronised RGB-D frame from three camera streams (colour, depth, CameraInfo).

Plain Python, fed by the camera node's callbacks: every message replaces the previous one of its stream, so
the model always sees the newest pair and never a backlog. Colour and depth are paired when their stamps
differ by at most ``slop_ns`` (approximate synchronisation, as message_filters does, without a queue).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from molmo_ros.errors import ErrorCode, MolmoRosError

T = TypeVar("T")


@dataclass(frozen=True)
class Stamped(Generic[T]):
    """A value with the stamp of the message it came from (nanoseconds) and its frame id."""

    stamp_ns: int
    frame_id: str
    value: T


@dataclass(frozen=True)
class RgbdFrame:
    """A colour image and the depth image taken with it.

    rgb: (H, W, 3) uint8 RGB. depth_m: (H, W) float32 metres (0 or NaN where unknown). stamp_ns: the colour
    image's stamp. frame_id: the camera's optical frame. intrinsics: whatever the CameraInfo conversion
    produced (molmo_ros.geometry.CameraIntrinsics), or None when no CameraInfo has arrived.
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    stamp_ns: int
    frame_id: str
    intrinsics: object | None

    def age_s(self, now_ns: int) -> float:
        """Seconds between the frame's stamp and `now_ns` (negative if the frame is from the future)."""
        return (now_ns - self.stamp_ns) * 1e-9


class FrameSynchronizer:
    """Keeps the newest colour image, depth image and intrinsics; pairs colour and depth by stamp.

    Thread-safe: the camera callbacks call ``add_*`` while service callbacks call ``latest``.
    """

    def __init__(self, slop_ns: int) -> None:
        if slop_ns < 0:
            raise ValueError(f"slop_ns must be >= 0, got {slop_ns}")
        self.slop_ns = slop_ns
        self._lock = threading.Lock()
        self._rgb: Stamped[np.ndarray] | None = None
        self._depth: Stamped[np.ndarray] | None = None
        self._intrinsics: object | None = None
        self._pair: RgbdFrame | None = None

    def add_rgb(self, stamped: Stamped[np.ndarray]) -> None:
        with self._lock:
            self._rgb = stamped
            self._try_pair()

    def add_depth(self, stamped: Stamped[np.ndarray]) -> None:
        with self._lock:
            self._depth = stamped
            self._try_pair()

    def set_intrinsics(self, intrinsics: object) -> None:
        with self._lock:
            self._intrinsics = intrinsics
            if self._pair is not None and self._pair.intrinsics is None:
                self._pair = _with_intrinsics(self._pair, intrinsics)

    def _try_pair(self) -> None:
        rgb, depth = self._rgb, self._depth
        if rgb is None or depth is None or abs(rgb.stamp_ns - depth.stamp_ns) > self.slop_ns:
            return
        self._pair = RgbdFrame(rgb.value, depth.value, rgb.stamp_ns, rgb.frame_id, self._intrinsics)

    @property
    def paired_stamp_ns(self) -> int | None:
        """Stamp of the newest paired frame (ns), None before the first pair."""
        with self._lock:
            return None if self._pair is None else self._pair.stamp_ns

    def latest(self, now_ns: int, max_age_s: float) -> RgbdFrame:
        """The newest paired frame, or an error saying why there is none.

        Raises MolmoRosError with NO_FRAME (nothing paired yet), STALE_FRAME (older than `max_age_s`;
        `max_age_s` <= 0 disables the check) or NO_CAMERA_INFO (no intrinsics yet).
        """
        with self._lock:
            pair, rgb, depth = self._pair, self._rgb, self._depth
        if pair is None:
            raise MolmoRosError(self._why_no_pair(rgb, depth), ErrorCode.NO_FRAME)
        if pair.intrinsics is None:
            raise MolmoRosError("no CameraInfo received yet for the camera", ErrorCode.NO_CAMERA_INFO)
        age = pair.age_s(now_ns)
        if max_age_s > 0 and age > max_age_s:
            raise MolmoRosError(
                f"latest RGB-D frame is {age:.2f} s old (limit {max_age_s:.2f} s)", ErrorCode.STALE_FRAME
            )
        return pair

    def _why_no_pair(self, rgb: Stamped | None, depth: Stamped | None) -> str:
        if rgb is None and depth is None:
            return "no colour or depth image received yet"
        if rgb is None:
            return "no colour image received yet"
        if depth is None:
            return "no depth image received yet"
        gap_ms = abs(rgb.stamp_ns - depth.stamp_ns) * 1e-6
        return f"colour and depth stamps differ by {gap_ms:.1f} ms (slop {self.slop_ns * 1e-6:.1f} ms)"


def _with_intrinsics(frame: RgbdFrame, intrinsics: object) -> RgbdFrame:
    return RgbdFrame(frame.rgb, frame.depth_m, frame.stamp_ns, frame.frame_id, intrinsics)
