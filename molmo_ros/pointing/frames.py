"""The latest synchronised RGB-D pair from three camera streams (colour, depth, CameraInfo).

Plain Python, fed by the camera node's callbacks. Each stream keeps its last few messages (``history``), and
the newest colour image that has a depth image within ``slop_ns`` of its stamp is paired with it (approximate
synchronisation, as message_filters does): a depth image that arrives after the next colour image still
pairs with its own colour image, so a late or dropped message costs one frame, not the pair. The model always
sees the newest pair and never a backlog.
The values are kept as they arrive (messages, typically) and converted only when a query needs them, so
ingesting a 30 Hz camera costs little more than receiving it.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from molmo_ros.errors import ErrorCode, MolmoRosError

T = TypeVar("T")

# A frame this far (s) from the node's clock was stamped by another clock (simulated vs wall time).
CLOCK_MISMATCH_S = 86_400.0


@dataclass(frozen=True)
class Stamped(Generic[T]):
    """A value with the stamp of the message it came from (nanoseconds) and its frame id."""

    stamp_ns: int
    frame_id: str
    value: T


@dataclass(frozen=True)
class RgbdPair(Generic[T]):
    """The newest colour and depth values paired by stamp, with the newest camera info (as received)."""

    rgb: Stamped[T]
    depth: Stamped[T]
    camera_info: object | None


@dataclass(frozen=True)
class RgbdFrame:
    """A colour image and the depth image taken with it, converted for the library.

    rgb: (H, W, 3) uint8 RGB. depth_m: (H, W) float32 metres (0 or NaN where unknown). stamp_ns: the colour
    image's stamp. frame_id: the camera's optical frame. intrinsics: whatever the CameraInfo conversion
    produced (molmo_ros.geometry.CameraIntrinsics), or None when no CameraInfo has arrived.
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    stamp_ns: int
    frame_id: str
    intrinsics: object | None


class FrameSynchronizer(Generic[T]):
    """Keeps the newest colour image, depth image and camera info; pairs colour and depth by stamp.

    Thread-safe: the camera callbacks call ``add_*`` while service callbacks call ``latest``.
    """

    def __init__(self, slop_ns: int, history: int = 4) -> None:
        if slop_ns < 0:
            raise ValueError(f"slop_ns must be >= 0, got {slop_ns}")
        if history < 1:
            raise ValueError(f"history must be >= 1, got {history}")
        self.slop_ns = slop_ns
        self._lock = threading.Lock()
        self._rgbs: deque[Stamped[T]] = deque(maxlen=history)
        self._depths: deque[Stamped[T]] = deque(maxlen=history)
        self._camera_info: object | None = None
        self._pair: tuple[Stamped[T], Stamped[T]] | None = None

    def clear(self) -> None:
        """Forget every message kept (a node that stops taking frames must not answer from old ones)."""
        with self._lock:
            self._rgbs.clear()
            self._depths.clear()
            self._camera_info, self._pair = None, None

    def add_rgb(self, stamped: Stamped[T]) -> None:
        with self._lock:
            self._rgbs.append(stamped)
            self._try_pair()

    def add_depth(self, stamped: Stamped[T]) -> None:
        with self._lock:
            self._depths.append(stamped)
            self._try_pair()

    def set_camera_info(self, camera_info: object) -> None:
        with self._lock:
            self._camera_info = camera_info

    def _try_pair(self) -> None:
        """Pair the last-arrived colour image that has a depth image within the slop. By arrival, not stamp:
        a camera or simulator that restarts its clock must not leave an old pair in place for ever."""
        for rgb in reversed(self._rgbs):
            close = [d for d in self._depths if abs(d.stamp_ns - rgb.stamp_ns) <= self.slop_ns]
            if close:
                self._pair = (rgb, min(close, key=lambda d: abs(d.stamp_ns - rgb.stamp_ns)))
                return

    @property
    def paired_stamp_ns(self) -> int | None:
        """Stamp of the newest paired colour image (ns), None before the first pair."""
        with self._lock:
            return None if self._pair is None else self._pair[0].stamp_ns

    @property
    def ready(self) -> bool:
        """Whether a query can be answered from what is kept: a colour/depth pair and a CameraInfo (the
        CameraInfo is its own topic and may arrive after the first images)."""
        with self._lock:
            return self._pair is not None and self._camera_info is not None

    def latest(self, now_ns: int, max_age_s: float) -> RgbdPair[T]:
        """The newest pair, or an error saying why there is none.

        Raises MolmoRosError with NO_FRAME (nothing paired yet), NO_CAMERA_INFO (no camera info yet) or
        STALE_FRAME (older than `max_age_s`, or stamped more than that in the future; `max_age_s` <= 0
        disables the check).
        """
        with self._lock:
            pair, info = self._pair, self._camera_info
            rgb = self._rgbs[-1] if self._rgbs else None
            depth = self._depths[-1] if self._depths else None
        if pair is None:
            raise MolmoRosError(self._why_no_pair(rgb, depth), ErrorCode.NO_FRAME)
        if info is None:
            raise MolmoRosError("no CameraInfo received yet for the camera", ErrorCode.NO_CAMERA_INFO)
        age = (now_ns - pair[0].stamp_ns) * 1e-9
        if max_age_s > 0 and abs(age) > CLOCK_MISMATCH_S:
            raise MolmoRosError(
                f"latest RGB-D frame is stamped {age:.0f} s away from this node's clock: the camera and "
                "this node use different clocks (set use_sim_time the same for both)",
                ErrorCode.STALE_FRAME,
            )
        if max_age_s > 0 and -age > max_age_s:
            raise MolmoRosError(
                f"latest RGB-D frame is stamped {-age:.2f} s in the future (limit {max_age_s:.2f} s): the "
                "camera's clock runs ahead of this node's",
                ErrorCode.STALE_FRAME,
            )
        if max_age_s > 0 and age > max_age_s:
            raise MolmoRosError(
                f"latest RGB-D frame is {age:.2f} s old (limit {max_age_s:.2f} s)", ErrorCode.STALE_FRAME
            )
        return RgbdPair(pair[0], pair[1], info)

    def _why_no_pair(self, rgb: Stamped | None, depth: Stamped | None) -> str:
        if rgb is None and depth is None:
            return "no colour or depth image received yet"
        if rgb is None:
            return "no colour image received yet"
        if depth is None:
            return "no depth image received yet"
        gap_ms = abs(rgb.stamp_ns - depth.stamp_ns) * 1e-6
        return f"colour and depth stamps differ by {gap_ms:.1f} ms (slop {self.slop_ns * 1e-6:.1f} ms)"
