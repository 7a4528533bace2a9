"""Depth images: conversion to meters and a robust depth at a pixel.

Depth images follow REP 118: ``16UC1`` holds millimeters with 0 meaning "no reading"; ``32FC1`` holds meters
with NaN (or +-inf, or 0 from some drivers) meaning "no reading". After :func:`depth_to_meters` every
invalid reading is NaN, so one test (finite and inside ``[min_m, max_m]``) finds valid depths.

A model's point lands on an object's edge as often as on its middle, and depth sensors have holes exactly
there; so the depth at a point is the median of the valid readings in a small window around it, and it is
refused when too few readings in the window are valid.
"""

from __future__ import annotations

import math

import numpy as np

from molmo_ros.errors import DepthError, EncodingError, ErrorCode, InvalidRequestError

#: Depth encodings understood by :func:`depth_to_meters`.
DEPTH_ENCODINGS = ("16UC1", "32FC1")


def depth_to_meters(depth: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a depth image to meters.

    Args:
        depth: (H, W) (or (H, W, 1)) array: uint16 millimeters for ``16UC1``, float32 meters for ``32FC1``
            (float64 accepted too).
        encoding: ``"16UC1"`` or ``"32FC1"``.

    Returns:
        (H, W) float32 meters, a new array; invalid readings (0 in ``16UC1``) are NaN.

    Raises:
        EncodingError: another encoding, or an array whose dtype / shape does not fit the encoding.
    """
    arr = np.asarray(depth)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim != 2:
        raise EncodingError(f"depth image must have shape (H, W), got {arr.shape}")
    if encoding == "16UC1":
        if arr.dtype.kind != "u" or arr.dtype.itemsize != 2:
            raise EncodingError(f"16UC1 depth must be uint16 millimeters, got dtype {arr.dtype}")
        meters = arr.astype(np.float32) * np.float32(0.001)
        meters[arr == 0] = np.nan
        return meters
    if encoding == "32FC1":
        if arr.dtype.kind != "f":
            raise EncodingError(f"32FC1 depth must be float meters, got dtype {arr.dtype}")
        return arr.astype(np.float32, copy=True)
    raise EncodingError(
        f"unsupported depth encoding {encoding!r} (supported: {', '.join(DEPTH_ENCODINGS)})",
    )


def _check_params(window: int, min_m: float, max_m: float, min_valid_fraction: float) -> None:
    if (
        isinstance(window, bool)
        or not isinstance(window, (int, np.integer))
        or window <= 0
        or window % 2 == 0
    ):
        raise InvalidRequestError(f"depth window must be a positive odd integer, got {window!r}")
    if not (math.isfinite(min_m) and math.isfinite(max_m) and 0.0 <= min_m < max_m):
        raise InvalidRequestError(f"depth range must satisfy 0 <= min_m < max_m, got [{min_m}, {max_m}]")
    if not (0.0 < min_valid_fraction <= 1.0):
        raise InvalidRequestError(f"min_valid_fraction must be in (0, 1], got {min_valid_fraction}")


def _as_depth_image(depth_m: np.ndarray) -> np.ndarray:
    arr = np.asarray(depth_m)
    if arr.ndim != 2 or arr.dtype.kind != "f":
        raise InvalidRequestError(
            f"depth_m must be a (H, W) float array in meters, got shape {arr.shape} dtype {arr.dtype} "
            "(convert with depth_to_meters)"
        )
    return arr


def _window_stats(
    depth_m: np.ndarray, uv: np.ndarray, window: int, min_m: float, max_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per point: median of valid depths (NaN if none), valid count, in-image window size, inside,
    (col, row)."""
    h, w = depth_m.shape
    n = uv.shape[0]
    finite = np.all(np.isfinite(uv), axis=1)
    # Round half up (not numpy's half-to-even) so that u = 2.5 always means column 3.
    col = np.where(finite, np.floor(np.where(finite, uv[:, 0], 0.0) + 0.5), -1).astype(np.int64)
    row = np.where(finite, np.floor(np.where(finite, uv[:, 1], 0.0) + 0.5), -1).astype(np.int64)
    inside = finite & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    half = window // 2
    offsets = np.arange(-half, half + 1)
    rows = row[:, None, None] + offsets[None, :, None]  # (N, window, 1)
    cols = col[:, None, None] + offsets[None, None, :]  # (N, 1, window)
    in_bounds = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)  # (N, window, window)
    vals = depth_m[np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)].astype(np.float64)
    valid = in_bounds & np.isfinite(vals) & (vals >= min_m) & (vals <= max_m)
    valid &= inside[:, None, None]
    vals = np.where(valid, vals, np.nan).reshape(n, window * window)
    n_valid = valid.reshape(n, window * window).sum(axis=1)
    n_window = in_bounds.reshape(n, window * window).sum(axis=1)
    med = np.full(n, np.nan)
    has = n_valid > 0
    if has.any():  # nanmedian on all-NaN rows would warn
        med[has] = np.nanmedian(vals[has], axis=1)
    return med, n_valid, n_window, inside, np.stack([col, row], axis=1)


def robust_depths(
    depth_m: np.ndarray,
    uv: np.ndarray,
    window: int = 5,
    min_m: float = 0.05,
    max_m: float = 10.0,
    min_valid_fraction: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """Robust depth at many pixels at once, without raising per point.

    Args:
        depth_m: (H, W) float depth in meters (NaN / inf / 0 / out of range are invalid).
        uv: (N, 2) pixel coordinates ``(u, v)`` (pixel-centre convention; rounded to the nearest pixel).
        window, min_m, max_m, min_valid_fraction: as in :func:`robust_depth_at`.

    Returns:
        ``(depths, valid)``: (N,) float64 meters (NaN where not valid) and (N,) bool. A point is not valid
        when it lies outside the image, is not finite, or has too few valid readings in its window.

    Raises:
        InvalidRequestError: bad parameters or array shapes (not per-point problems).
    """
    _check_params(window, min_m, max_m, min_valid_fraction)
    depth_m = _as_depth_image(depth_m)
    uv = np.asarray(uv, dtype=np.float64)
    if uv.ndim != 2 or uv.shape[1] != 2:
        raise InvalidRequestError(f"uv must have shape (N, 2), got {uv.shape}")
    med, n_valid, n_window, inside, _ = _window_stats(depth_m, uv, window, min_m, max_m)
    valid = inside & (n_valid >= _required(n_window, min_valid_fraction))
    return np.where(valid, med, np.nan), valid


def _required(n_window: np.ndarray, fraction: float) -> np.ndarray:
    # At least one valid reading, and at least `fraction` of the window pixels that lie inside the image
    # (a window clipped at the border asks for proportionally fewer).
    return np.maximum(1, np.ceil(fraction * n_window - 1e-9)).astype(np.int64)


def robust_depth_at(
    depth_m: np.ndarray,
    u: float,
    v: float,
    window: int = 5,
    min_m: float = 0.05,
    max_m: float = 10.0,
    min_valid_fraction: float = 0.2,
) -> float:
    """Median of the valid depths in a ``window`` x ``window`` box centred on pixel ``(u, v)``.

    Args:
        depth_m: (H, W) float depth in meters.
        u, v: pixel coordinates (pixel-centre convention), rounded to the nearest pixel.
        window: odd box size in pixels; the box is clipped at the image border.
        min_m, max_m: readings outside ``[min_m, max_m]`` meters are invalid, as are 0, NaN and inf.
        min_valid_fraction: fraction of the (clipped) box that must hold valid readings.

    Returns:
        Depth in meters.

    Raises:
        DepthError: the pixel is outside the image (code POINT_OUTSIDE_IMAGE), or too few valid readings
            (code NO_DEPTH); the reason gives the counts and the pixel.
        InvalidRequestError: an even or non-positive window, or other bad parameters.
    """
    _check_params(window, min_m, max_m, min_valid_fraction)
    depth_m = _as_depth_image(depth_m)
    try:
        uf, vf = float(u), float(v)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"pixel coordinates must be numbers, got ({u!r}, {v!r})") from exc
    if not (math.isfinite(uf) and math.isfinite(vf)):
        raise InvalidRequestError(f"pixel coordinates must be finite, got ({uf}, {vf})")
    med, n_valid, n_window, inside, px = _window_stats(depth_m, np.array([[uf, vf]]), window, min_m, max_m)
    h, w = depth_m.shape
    if not inside[0]:
        raise DepthError(
            f"pixel ({uf:.1f}, {vf:.1f}) is outside the {w}x{h} depth image",
            code=ErrorCode.POINT_OUTSIDE_IMAGE,
        )
    need = int(_required(n_window, min_valid_fraction)[0])
    if n_valid[0] < need:
        col, row = px[0]
        raise DepthError(
            f"no valid depth at pixel ({col}, {row}): {n_valid[0]} of {n_window[0]} readings in the "
            f"{window}x{window} window are valid (need {need}; valid range [{min_m}, {max_m}] m)"
        )
    return float(med[0])
