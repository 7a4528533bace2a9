"""Pinhole camera intrinsics (the K matrix and distortion of a ``sensor_msgs/CameraInfo``), validated.

Conventions (those of ROS ``CameraInfo`` and OpenCV):

- Pixel coordinates ``(u, v)``: ``u`` to the right (columns), ``v`` down (rows). Integer coordinates are pixel
  *centres*: ``u = 0`` is the centre of the first column, so the image spans ``[-0.5, width - 0.5]``.
- ``fx, fy, cx, cy`` in pixels. ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``.
- Skew: a K with a non-zero ``K[0][1]`` is rejected (ROS calibrators always write 0 there and this class has
  no field for it; using such a K while ignoring the skew would silently shift every point).
- Distortion: empty or all-zero coefficients mean none. Non-zero coefficients are supported for
  ``plumb_bob`` and ``rational_polynomial`` (OpenCV's standard model, 4/5/8/12/14 coefficients) and
  ``equidistant`` (OpenCV's fisheye model, 4 coefficients); pixels are undistorted with OpenCV in
  :mod:`molmo_ros.geometry.deproject`. Any other model with non-zero coefficients is rejected.
- Binning and region of interest in a ``CameraInfo`` change what K means for the published image;
  :meth:`CameraIntrinsics.from_camera_info` rejects them rather than producing wrong 3D points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from molmo_ros.errors import CameraInfoError

#: Distortion models whose non-zero coefficients are applied, with the accepted coefficient counts.
SUPPORTED_DISTORTION_MODELS: dict[str, tuple[int, ...]] = {
    "plumb_bob": (4, 5, 8, 12, 14),
    "rational_polynomial": (4, 5, 8, 12, 14),
    "equidistant": (4,),
}

# Off-diagonal / last-row entries of K closer to their ideal value than this count as exact (float noise
# from YAML round trips); relative to the focal length for the skew entry.
_K_TOL = 1e-9


@dataclass(frozen=True)
class CameraIntrinsics:
    """Intrinsics of a pinhole camera, validated on construction.

    Attributes:
        fx, fy: focal lengths in pixels (finite, > 0).
        cx, cy: principal point in pixels, in the pixel-centre convention of the module docstring.
        width, height: image size in pixels (> 0) the intrinsics belong to.
        distortion_model: ``CameraInfo.distortion_model`` (``"plumb_bob"``, ``"rational_polynomial"``,
            ``"equidistant"``, or any name when all coefficients are zero).
        d: distortion coefficients in OpenCV order (``k1, k2, p1, p2[, k3 ...]`` or fisheye ``k1..k4``).

    Raises:
        CameraInfoError: on any value that cannot describe a camera, with the reason.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    distortion_model: str = "plumb_bob"
    d: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        # Normalise types once so equality, hashing and OpenCV calls see plain floats / ints / tuples.
        for name in ("fx", "fy", "cx", "cy"):
            value = getattr(self, name)
            try:
                value = float(value)
            except (TypeError, ValueError) as exc:
                raise CameraInfoError(f"camera intrinsics: {name} is not a number ({value!r})") from exc
            if not math.isfinite(value):
                raise CameraInfoError(f"camera intrinsics: {name} is not finite ({value})")
            object.__setattr__(self, name, value)
        for name in ("fx", "fy"):
            if getattr(self, name) <= 0.0:
                raise CameraInfoError(
                    f"camera intrinsics: focal length {name}={getattr(self, name)} must be > 0 "
                    "(an all-zero K means the camera is not calibrated)"
                )
        for name in ("width", "height"):
            value = getattr(self, name)
            try:
                ok = not isinstance(value, bool) and float(value).is_integer() and int(value) > 0
            except (TypeError, ValueError, OverflowError):
                ok = False
            if not ok:
                raise CameraInfoError(f"camera intrinsics: {name}={value!r} must be a positive integer")
            object.__setattr__(self, name, int(value))
        object.__setattr__(self, "distortion_model", str(self.distortion_model or "").strip())
        try:
            d = tuple(float(c) for c in np.asarray(self.d, dtype=np.float64).reshape(-1))
        except (TypeError, ValueError) as exc:
            raise CameraInfoError(
                f"camera intrinsics: distortion coefficients are not numbers: {exc}"
            ) from exc
        if not all(math.isfinite(c) for c in d):
            raise CameraInfoError(f"camera intrinsics: distortion coefficients are not finite: {d}")
        object.__setattr__(self, "d", d)
        self._check_distortion()

    def _check_distortion(self) -> None:
        if not self.has_distortion:
            return
        model = self.distortion_model
        counts = SUPPORTED_DISTORTION_MODELS.get(model)
        if counts is None:
            supported = ", ".join(sorted(SUPPORTED_DISTORTION_MODELS))
            raise CameraInfoError(
                f"camera intrinsics: distortion model {model!r} with non-zero coefficients {self.d} is not "
                f"supported (supported: {supported}; or publish rectified images with zero distortion)"
            )
        if len(self.d) not in counts:
            raise CameraInfoError(
                f"camera intrinsics: distortion model {model!r} needs {' / '.join(map(str, counts))} "
                f"coefficients, got {len(self.d)}"
            )

    @property
    def has_distortion(self) -> bool:
        """True when at least one distortion coefficient is non-zero (so pixels must be undistorted)."""
        return any(c != 0.0 for c in self.d)

    @classmethod
    def from_k(
        cls,
        k: Sequence[float],
        width: int,
        height: int,
        distortion_model: str = "",
        d: Sequence[float] = (),
    ) -> CameraIntrinsics:
        """Build from a row-major 3x3 K (9 values, or a (3, 3) array), image size and distortion.

        Raises:
            CameraInfoError: K without 9 values, all-zero K (uncalibrated camera), non-zero skew
                ``K[0][1]``, non-zero ``K[1][0]``, or a last row other than ``[0, 0, 1]``.
        """
        try:
            kk = np.asarray(k, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise CameraInfoError(f"camera intrinsics: K is not numeric: {exc}") from exc
        if kk.size != 9:
            raise CameraInfoError(f"camera intrinsics: K must have 9 values (3x3 row-major), got {kk.size}")
        if not np.all(np.isfinite(kk)):
            raise CameraInfoError(f"camera intrinsics: K has non-finite values: {kk.tolist()}")
        if not np.any(kk):
            raise CameraInfoError("camera intrinsics: K is all zeros (the camera is not calibrated)")
        fx, skew, cx, k10, fy, cy, k20, k21, k22 = kk.tolist()
        if abs(skew) > _K_TOL * max(abs(fx), 1.0):
            raise CameraInfoError(f"camera intrinsics: K has a non-zero skew K[0][1]={skew}; not supported")
        if abs(k10) > _K_TOL * max(abs(fy), 1.0):
            raise CameraInfoError(f"camera intrinsics: K[1][0]={k10} must be 0")
        if abs(k20) > _K_TOL or abs(k21) > _K_TOL or abs(k22 - 1.0) > _K_TOL:
            raise CameraInfoError(
                f"camera intrinsics: the last row of K must be [0, 0, 1], got [{k20}, {k21}, {k22}]"
            )
        return cls(fx, fy, cx, cy, width, height, distortion_model, tuple(d))

    @classmethod
    def from_camera_info(cls, msg: Any, *, rectified: bool = False) -> CameraIntrinsics:
        """Build from a ``sensor_msgs/CameraInfo`` or any object with its fields.

        Uses ``msg.k``, ``msg.width``, ``msg.height``, ``msg.distortion_model``, ``msg.d``; ``binning_x``,
        ``binning_y`` and ``roi`` are checked when present.

        Args:
            msg: the camera info.
            rectified: the image the pixels come from is rectified (an ``image_rect`` topic): use the
                projection matrix ``msg.p`` (its left 3x3) and no distortion, as ROS prescribes.

        Raises:
            CameraInfoError: missing fields, invalid K / P / size, unsupported distortion, binning > 1 or a
                region of interest smaller than the image (neither is supported).
        """
        try:
            k, width, height = msg.k, msg.width, msg.height
        except AttributeError as exc:
            raise CameraInfoError(f"camera info: missing field ({exc})") from exc
        for name in ("binning_x", "binning_y"):
            binning = int(getattr(msg, name, 0) or 0)
            if binning > 1:
                raise CameraInfoError(f"camera info: {name}={binning} is not supported (use unbinned images)")
        roi = getattr(msg, "roi", None)
        if roi is not None:
            x_off, y_off = int(getattr(roi, "x_offset", 0)), int(getattr(roi, "y_offset", 0))
            roi_w, roi_h = int(getattr(roi, "width", 0)), int(getattr(roi, "height", 0))
            full = (roi_w == 0 and roi_h == 0) or (roi_w == int(width) and roi_h == int(height))
            if x_off or y_off or not full:
                raise CameraInfoError(
                    f"camera info: a region of interest (x={x_off}, y={y_off}, {roi_w}x{roi_h}) is not "
                    "supported (use full images)"
                )
        if not rectified:
            return cls.from_k(
                k, width, height, getattr(msg, "distortion_model", ""), tuple(getattr(msg, "d", ()))
            )
        p = np.asarray(getattr(msg, "p", ()), dtype=np.float64).reshape(-1)
        if p.size != 12:
            raise CameraInfoError(f"camera info: P must have 12 values (3x4 row-major), got {p.size}")
        if p[3] != 0.0 or p[7] != 0.0:
            raise CameraInfoError(
                f"camera info: P has a stereo baseline (Tx={p[3]}, Ty={p[7]}); deproject with the "
                "unrectified K (rectified=False) instead"
            )
        return cls.from_k(p.reshape(3, 4)[:, :3].reshape(-1), width, height, "", ())

    def to_k(self) -> np.ndarray:
        """The (3, 3) float64 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def contains(self, u: np.ndarray | float, v: np.ndarray | float) -> np.ndarray | bool:
        """Whether pixel coordinates lie inside the image (``-0.5 <= u < width - 0.5``, same for v)."""
        u_arr, v_arr = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
        inside = (u_arr >= -0.5) & (u_arr < self.width - 0.5) & (v_arr >= -0.5) & (v_arr < self.height - 0.5)
        return bool(inside) if inside.ndim == 0 else inside

    def require_image_size(self, width: int, height: int) -> None:
        """Raise CameraInfoError when an image of ``width`` x ``height`` does not match these intrinsics."""
        if (int(width), int(height)) != (self.width, self.height):
            raise CameraInfoError(
                f"camera info is for {self.width}x{self.height} images but the image is {width}x{height}"
            )
