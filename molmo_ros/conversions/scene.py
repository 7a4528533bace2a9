"""The simulation as messages: the camera's CameraInfo, poses, scene objects (message packages only)."""

from __future__ import annotations

from typing import Any

import numpy as np


def to_pose(position: np.ndarray, quat_xyzw: np.ndarray) -> Any:
    """geometry_msgs/Pose from a position (3,) m and a quaternion (x, y, z, w)."""
    from geometry_msgs.msg import Pose

    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in position)
    o = pose.orientation
    o.x, o.y, o.z, o.w = (float(v) for v in quat_xyzw)
    return pose


def to_scene_object(state: Any) -> Any:
    """molmo_ros_interfaces/msg/SceneObject from a simulator :class:`~molmo_ros.sim.simulator.ObjectState`."""
    from molmo_ros_interfaces.msg import SceneObject

    msg = SceneObject(name=state.name, kind=state.kind, colour=state.colour)
    msg.pose = to_pose(state.position, state.quaternion)
    msg.extents.x, msg.extents.y, msg.extents.z = (float(v) for v in state.extents)
    msg.in_image = state.pixel is not None
    if state.pixel is not None:
        msg.pixel_x, msg.pixel_y = state.pixel
    msg.height_above_rest = state.height_above_rest
    msg.lifted, msg.grasped = state.lifted, state.grasped
    return msg


def camera_info_msg(intrinsics: Any, header: Any) -> Any:
    """sensor_msgs/CameraInfo of a distortion-free pinhole camera (:class:`molmo_ros.geometry.CameraIntrinsics`)."""
    from sensor_msgs.msg import CameraInfo

    k = intrinsics
    info = CameraInfo(header=header, width=k.width, height=k.height, distortion_model="plumb_bob")
    info.d = [0.0] * 5
    info.k = [k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [k.fx, 0.0, k.cx, 0.0, 0.0, k.fy, k.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def transform_stamped_msg(transform: Any, stamp: Any) -> Any:
    """geometry_msgs/TransformStamped of a :class:`molmo_ros.geometry.RigidTransform` (child in parent)."""
    from geometry_msgs.msg import TransformStamped

    msg = TransformStamped()
    msg.header.stamp, msg.header.frame_id, msg.child_frame_id = (
        stamp,
        transform.parent_frame,
        transform.child_frame,
    )
    translation, quat = transform.as_xyz_quat()
    t, r = msg.transform.translation, msg.transform.rotation
    t.x, t.y, t.z = (float(v) for v in translation)
    r.x, r.y, r.z, r.w = (float(v) for v in quat)
    return msg
