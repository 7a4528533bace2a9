"""From a depth image to what the pick needs: the target object's shape and the obstacles around it.

The depth image becomes a point cloud in the planning frame; points on the robot itself are removed (capsules
around its links), the table plane is found near its expected height, and the points above it are grouped
into objects by connected components on a top-down occupancy grid (OpenCV). The object nearest the pointed 3D
target is the one to pick; every object becomes an oriented box obstacle (OpenCV's minimum-area rectangle of
its footprint, from the table up to its top). No ROS here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from molmo_ros.errors import DepthError
from molmo_ros.geometry import CameraIntrinsics, RigidTransform
from molmo_ros.geometry.deproject import deproject


@dataclass(frozen=True)
class PerceptionSettings:
    """Parameters of the segmentation (meters unless noted).

    table_z: expected table height in the planning frame; table_search: the table is looked for within this
    of table_z; above_table: points this far above the table belong to objects; max_object_height: points
    higher than this above the table are ignored (the arm, the camera rig); grid: cell size of the top-down
    occupancy grid; max_target_distance: the target object must come this close to the pointed point;
    stride: use every stride-th pixel in both directions; min_points: smallest object kept.
    """

    table_z: float = 0.0
    table_search: float = 0.03
    above_table: float = 0.008
    max_object_height: float = 0.3
    grid: float = 0.005
    max_target_distance: float = 0.03
    stride: int = 2
    min_points: int = 20


@dataclass(frozen=True)
class Capsule:
    """A segment from `a` to `b` (3,) with a radius (m): points inside belong to the robot."""

    a: np.ndarray
    b: np.ndarray
    radius: float


@dataclass(frozen=True)
class Box:
    """An oriented box obstacle: centre (3,) m, half extents (3,) m, yaw (rad) about z; a name for logs."""

    name: str
    centre: np.ndarray
    half_extents: np.ndarray
    yaw: float = 0.0

    def padded(self, padding: float) -> Box:
        return Box(self.name, self.centre, self.half_extents + padding, self.yaw)

    def holds(self, point: np.ndarray, margin: float = 1e-3, footprint: bool = False) -> bool:
        """Whether `point` (3,) m lies inside the box grown by `margin` m (`footprint`: its xy inside the
        box's footprint, at any height)."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        d = np.asarray(point, dtype=float) - self.centre
        local = np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1], d[2]])
        axes = 2 if footprint else 3
        return bool(np.all(np.abs(local[:axes]) <= self.half_extents[:axes] + margin))


@dataclass(frozen=True)
class ObjectObservation:
    """One object seen above the table.

    points: (N, 3) its points (planning frame); top_z: height of its top (95th percentile of z);
    centre_xy: (2,) middle of its top surface; principal_yaw: direction of the footprint's major axis (rad,
    from a principal component analysis of the footprint); elongation: major / minor spread; width: extent
    across the minor axis (m); box: its obstacle box.
    """

    points: np.ndarray
    top_z: float
    centre_xy: np.ndarray
    principal_yaw: float
    elongation: float
    width: float
    box: Box


@dataclass(frozen=True)
class SceneObservation:
    """The segmented scene: the table height, every object, and the index of the target (None: no object
    near the pointed point)."""

    table_z: float
    objects: list[ObjectObservation]
    target_index: int | None

    @property
    def target(self) -> ObjectObservation | None:
        return None if self.target_index is None else self.objects[self.target_index]

    def obstacles(self, include_target: bool) -> list[Box]:
        return [o.box for i, o in enumerate(self.objects) if include_target or i != self.target_index]


def depth_to_cloud(
    depth_m: np.ndarray, intrinsics: CameraIntrinsics, camera_to_base: RigidTransform, stride: int = 1
) -> np.ndarray:
    """(N, 3) points in the planning frame from an (H, W) metric depth image (invalid pixels dropped)."""
    if depth_m.ndim != 2 or depth_m.shape != (intrinsics.height, intrinsics.width):
        raise DepthError(
            f"depth image {depth_m.shape} does not match the camera's {intrinsics.height}x{intrinsics.width}"
        )
    rows, cols = np.mgrid[0 : depth_m.shape[0] : stride, 0 : depth_m.shape[1] : stride]
    z = depth_m[rows, cols].astype(np.float64)
    valid = np.isfinite(z) & (z > 0.0)
    if not np.any(valid):
        raise DepthError("the depth image has no valid pixel")
    optical = deproject(intrinsics, cols[valid].astype(float), rows[valid].astype(float), z[valid])
    return camera_to_base.apply(optical)


def scene_cloud(
    depth_m: np.ndarray,
    intrinsics: CameraIntrinsics,
    camera_to_base: RigidTransform,
    stride: int,
    robot_capsules: list[Capsule] | None = None,
) -> np.ndarray:
    """(N, 3) points of the depth picture in the planning frame, without those on the robot (its capsules)."""
    cloud = depth_to_cloud(depth_m, intrinsics, camera_to_base, stride)
    return remove_robot(cloud, robot_capsules) if robot_capsules else cloud


def remove_robot(points: np.ndarray, capsules: list[Capsule]) -> np.ndarray:
    """Drop the points inside any of the robot's capsules."""
    keep = np.ones(len(points), dtype=bool)
    for capsule in capsules:
        axis = capsule.b - capsule.a
        length2 = float(axis @ axis)
        rel = points - capsule.a
        t = np.clip(rel @ axis / length2, 0.0, 1.0) if length2 > 0 else np.zeros(len(points))
        distance2 = np.sum((rel - t[:, None] * axis) ** 2, axis=1)
        keep &= distance2 > capsule.radius**2
    return points[keep]


def estimate_table_z(points: np.ndarray, settings: PerceptionSettings) -> float:
    """Height of the table plane: the median height of points near the expected table height."""
    near = points[np.abs(points[:, 2] - settings.table_z) < settings.table_search]
    if len(near) < settings.min_points:
        return settings.table_z
    return float(np.median(near[:, 2]))


def observe_scene(cloud: np.ndarray, target: np.ndarray, settings: PerceptionSettings) -> SceneObservation:
    """Segment the objects above the table in `cloud` (N, 3) and pick the one nearest `target` (3,)."""
    table_z = estimate_table_z(cloud, settings)
    height = cloud[:, 2] - table_z
    above = cloud[(height > settings.above_table) & (height < settings.max_object_height)]
    if len(above) < settings.min_points:
        return SceneObservation(table_z, [], None)
    labels = _cluster_footprints(above[:, :2], settings.grid)
    objects = []
    for label in np.unique(labels):
        pts = above[labels == label]
        if len(pts) >= settings.min_points:
            objects.append(_describe(pts, table_z, f"object_{len(objects)}"))
    target_index = None
    if objects:
        distances = [float(np.min(np.linalg.norm(o.points - target, axis=1))) for o in objects]
        best = int(np.argmin(distances))
        # A target inside an object (a centre from ground truth) lies within its footprint.
        inside = objects[best].box.holds(target)
        if distances[best] <= settings.max_target_distance or inside:
            target_index = best
    return SceneObservation(table_z, objects, target_index)


def _cluster_footprints(xy: np.ndarray, cell: float) -> np.ndarray:
    """Connected-component label (N,) of each point's cell on a top-down grid (8-connected, one cell of
    dilation so a sparsely seen surface stays one object)."""
    lo = xy.min(axis=0) - 2 * cell
    ij = np.floor((xy - lo) / cell).astype(np.int64)
    shape = ij.max(axis=0) + 3
    grid = np.zeros((int(shape[1]), int(shape[0])), dtype=np.uint8)
    grid[ij[:, 1], ij[:, 0]] = 255
    grid = cv2.dilate(grid, np.ones((3, 3), np.uint8))
    _, labels = cv2.connectedComponents(grid, connectivity=8)
    return labels[ij[:, 1], ij[:, 0]]


def _describe(points: np.ndarray, table_z: float, name: str) -> ObjectObservation:
    top_z = float(np.percentile(points[:, 2], 95))
    xy = points[:, :2].astype(np.float32)
    # The middle of the top surface: the hand goes down there (rims and lids are seen whole from above).
    top = points[points[:, 2] > top_z - 0.015, :2].astype(np.float32)
    (cx, cy), _, _ = cv2.minAreaRect(top if len(top) >= 3 else xy)
    # Principal axis of the footprint.
    centred = xy - xy.mean(axis=0)
    eigvals, eigvecs = np.linalg.eigh(np.cov(centred.T))
    major = eigvecs[:, 1]
    principal_yaw = math.atan2(float(major[1]), float(major[0]))
    elongation = math.sqrt(max(eigvals[1], 1e-12) / max(eigvals[0], 1e-12))
    minor = eigvecs[:, 0]
    projection = centred @ minor
    width = float(np.percentile(projection, 98) - np.percentile(projection, 2))
    (bx, by), (w, h), angle = cv2.minAreaRect(xy)
    box = Box(
        name,
        np.array([bx, by, 0.5 * (table_z + top_z)]),
        np.array([0.5 * w, 0.5 * h, 0.5 * max(top_z - table_z, 0.005)]),
        math.radians(angle),
    )
    return ObjectObservation(points, top_z, np.array([cx, cy]), principal_yaw, elongation, width, box)
