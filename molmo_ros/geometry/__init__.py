"""Geometry: camera intrinsics, pixels + depth -> 3D points, rigid transforms between frames.

Plain numpy / scipy (OpenCV only for lens distortion); no ROS imports. Conventions: ROS optical frames
(x right, y down, z forward, meters), pixel coordinates with integer values at pixel centres.
"""

from molmo_ros.geometry.camera import SUPPORTED_DISTORTION_MODELS, CameraIntrinsics
from molmo_ros.geometry.deproject import deproject, pixels_to_normalized, project
from molmo_ros.geometry.depth import DEPTH_ENCODINGS, depth_to_meters, robust_depth_at, robust_depths
from molmo_ros.geometry.transforms import (
    QUATERNION_NORM_TOLERANCE,
    RigidTransform,
    look_at,
    rotation_from_quat,
)

__all__ = [
    "DEPTH_ENCODINGS",
    "QUATERNION_NORM_TOLERANCE",
    "SUPPORTED_DISTORTION_MODELS",
    "CameraIntrinsics",
    "RigidTransform",
    "deproject",
    "depth_to_meters",
    "look_at",
    "pixels_to_normalized",
    "project",
    "robust_depth_at",
    "robust_depths",
    "rotation_from_quat",
]
