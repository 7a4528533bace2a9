"""Pixels + depth -> 3D points in the camera optical frame, and back.

Frames and units: the ROS optical frame (REP 103): x right, y down, z forward along the optical axis, in
meters. Depth is the z coordinate (what depth images hold), not the distance along the ray. Pixels follow
the convention of :mod:`molmo_ros.geometry.camera` (integer coordinates are pixel centres, as in ROS and
OpenCV), so no half-pixel offsets appear here.

Lens distortion: when the intrinsics carry non-zero coefficients, pixels are undistorted with OpenCV
(``cv2.undistortPoints`` or ``cv2.fisheye.undistortPoints``, iterated to convergence) and points are
projected with ``cv2.projectPoints`` / ``cv2.fisheye.projectPoints``; without distortion everything is
plain numpy and OpenCV is not imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from molmo_ros.errors import CameraInfoError, InvalidRequestError
from molmo_ros.geometry.camera import CameraIntrinsics

# OpenCV's default of 5 undistortion iterations leaves ~1e-3 px errors for strong distortion; iterate to
# convergence instead so that project(deproject(p)) == p to well below a pixel.
_UNDISTORT_ITERATIONS = 100
_UNDISTORT_EPS = 1e-10


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:  # only reachable with non-zero distortion
        raise CameraInfoError(
            "camera has lens distortion, which needs OpenCV (pip install opencv-python-headless); "
            "or use rectified images"
        ) from exc
    return cv2


def _as_points_1d(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim > 1:
        raise InvalidRequestError(f"{name} must be a scalar or a 1-D array, got shape {arr.shape}")
    return arr


def pixels_to_normalized(intrinsics: CameraIntrinsics, uv: np.ndarray) -> np.ndarray:
    """Undistorted normalized image coordinates ``(x/z, y/z)`` of pixels.

    Args:
        intrinsics: the camera.
        uv: (N, 2) pixel coordinates ``(u, v)``.

    Returns:
        (N, 2) float64. Rows with non-finite input are NaN.
    """
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    if not intrinsics.has_distortion:
        return np.stack(
            [(uv[:, 0] - intrinsics.cx) / intrinsics.fx, (uv[:, 1] - intrinsics.cy) / intrinsics.fy], axis=1
        )
    out = np.full(uv.shape, np.nan)
    finite = np.all(np.isfinite(uv), axis=1)
    if not finite.any():
        return out
    cv2 = _cv2()
    src = np.ascontiguousarray(uv[finite].reshape(-1, 1, 2))
    k, d = intrinsics.to_k(), np.asarray(intrinsics.d, dtype=np.float64)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, _UNDISTORT_ITERATIONS, _UNDISTORT_EPS)
    if intrinsics.distortion_model == "equidistant":
        undistort = cv2.fisheye.undistortPoints
    elif hasattr(cv2, "undistortPointsIter"):  # OpenCV 4.x spells the iterated variant separately
        eye = np.eye(3)
        out[finite] = cv2.undistortPointsIter(src, k, d, eye, eye, criteria).reshape(-1, 2)
        return out
    else:
        undistort = cv2.undistortPoints
    try:
        res = undistort(src, k, d, criteria=criteria)
    except (TypeError, cv2.error):  # an OpenCV without the criteria argument
        res = undistort(src, k, d)
    out[finite] = res.reshape(-1, 2)
    return out


def deproject(
    intrinsics: CameraIntrinsics,
    u: np.ndarray | float,
    v: np.ndarray | float,
    depth_m: np.ndarray | float,
) -> np.ndarray:
    """Lift pixels with depth to 3D points in the camera optical frame.

    Args:
        intrinsics: the camera.
        u, v: pixel coordinates, scalars or (N,) arrays (broadcast together with ``depth_m``).
        depth_m: depth (z) in meters, scalar or (N,).

    Returns:
        (N, 3) float64 points ``(x, y, z)`` in meters, or (3,) when all inputs are scalars. Non-finite depth
        gives non-finite points: validate depth first (see :func:`molmo_ros.geometry.depth.robust_depths`).

    Raises:
        InvalidRequestError: inputs that are not scalars / 1-D, or that do not broadcast.
    """
    u_arr, v_arr, z_arr = (_as_points_1d(n, x) for n, x in (("u", u), ("v", v), ("depth_m", depth_m)))
    try:
        u_arr, v_arr, z_arr = np.broadcast_arrays(u_arr, v_arr, z_arr)
    except ValueError as exc:
        raise InvalidRequestError(
            f"u, v and depth_m do not broadcast: shapes {u_arr.shape}, {v_arr.shape}, {z_arr.shape}"
        ) from exc
    scalar = u_arr.ndim == 0
    xy = pixels_to_normalized(intrinsics, np.stack([u_arr.reshape(-1), v_arr.reshape(-1)], axis=1))
    z = z_arr.reshape(-1)
    points = np.stack([xy[:, 0] * z, xy[:, 1] * z, z], axis=1)
    return points[0] if scalar else points


def project(intrinsics: CameraIntrinsics, points: np.ndarray) -> np.ndarray:
    """Project 3D points in the camera optical frame to pixel coordinates (the inverse of :func:`deproject`).

    Args:
        intrinsics: the camera (distortion applied when present).
        points: (N, 3) or (3,) points in meters.

    Returns:
        (N, 2) or (2,) float64 pixel coordinates ``(u, v)``. Points that are not in front of the camera
        (z <= 0) or not finite give NaN. Pixels outside the image are returned as they are.

    Raises:
        InvalidRequestError: ``points`` of another shape.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape[-1:] != (3,) or pts.ndim > 2:
        raise InvalidRequestError(f"points must have shape (N, 3) or (3,), got {pts.shape}")
    single = pts.ndim == 1
    pts = pts.reshape(-1, 3)
    out = np.full((pts.shape[0], 2), np.nan)
    ok = np.all(np.isfinite(pts), axis=1) & (pts[:, 2] > 0.0)
    if ok.any():
        p = pts[ok]
        if not intrinsics.has_distortion:
            out[ok, 0] = intrinsics.fx * p[:, 0] / p[:, 2] + intrinsics.cx
            out[ok, 1] = intrinsics.fy * p[:, 1] / p[:, 2] + intrinsics.cy
        else:
            cv2 = _cv2()
            k, d = intrinsics.to_k(), np.asarray(intrinsics.d, dtype=np.float64)
            src, zero = np.ascontiguousarray(p.reshape(-1, 1, 3)), np.zeros(3)
            if intrinsics.distortion_model == "equidistant":
                img, _ = cv2.fisheye.projectPoints(src, zero, zero, k, d)
            else:
                img, _ = cv2.projectPoints(src, zero, zero, k, d)
            out[ok] = img.reshape(-1, 2)
    return out[0] if single else out
