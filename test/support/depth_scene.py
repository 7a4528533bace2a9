"""Depth pictures of boxes on a table, ray-cast with numpy: scenes whose answer is known exactly, for the
perception and pick tests that must not need the simulator."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from molmo_ros.geometry import CameraIntrinsics, RigidTransform

INTRINSICS = CameraIntrinsics(fx=400.0, fy=400.0, cx=160.0, cy=120.0, width=320, height=240)


def overhead_camera(position: Sequence[float] = (0.5, 0.0, 0.8)) -> RigidTransform:
    """An optical frame (z forward, x right, y down) at `position` m looking straight down at the table."""
    rotation = Rotation.from_euler("x", np.pi)  # optical z to -z of the base, optical x stays +x
    return RigidTransform(rotation, np.asarray(position, float), "base", "camera")


def render_depth(
    boxes: Sequence[tuple[Sequence[float], Sequence[float]]],
    camera: RigidTransform,
    table_z: float = 0.0,
    intrinsics: CameraIntrinsics = INTRINSICS,
) -> np.ndarray:
    """Depth (H, W) m along the optical axis of a table plane at `table_z` and axis-aligned boxes.

    boxes: (centre (3,), half extents (3,)) in the base frame, m. Pixels that see nothing are NaN.
    """
    v, u = np.mgrid[0 : intrinsics.height, 0 : intrinsics.width].astype(float)
    rays_cam = np.stack(
        [(u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy, np.ones_like(u)], -1
    )
    rays = camera.rotation.apply(rays_cam.reshape(-1, 3))  # base frame, optical z component 1 => t is depth
    origin = camera.translation
    with np.errstate(divide="ignore", invalid="ignore"):
        t_best = (table_z - origin[2]) / rays[:, 2]
        t_best = np.where(t_best > 0, t_best, np.inf)
        for centre, half in boxes:
            low = np.asarray(centre, float) - np.asarray(half, float)
            high = np.asarray(centre, float) + np.asarray(half, float)
            t1, t2 = (low - origin) / rays, (high - origin) / rays
            near = np.max(np.minimum(t1, t2), axis=1)
            far = np.min(np.maximum(t1, t2), axis=1)
            hit = (near <= far) & (near > 0)
            t_best = np.where(hit & (near < t_best), near, t_best)
    depth = np.where(np.isfinite(t_best), t_best, np.nan)
    return depth.reshape(intrinsics.height, intrinsics.width)
