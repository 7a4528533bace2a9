"""Messages the simulation bridge publishes: the camera mount as a TransformStamped, CameraInfo."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from std_msgs.msg import Header

from molmo_ros.conversions.scene import camera_info_msg, transform_stamped_msg
from molmo_ros.geometry import CameraIntrinsics, RigidTransform, look_at


def test_a_transform_survives_the_message_and_back():
    mount = look_at([1.1, 0.0, 0.62], [0.42, 0.0, 0.06], "panda_link0", "scene_camera_optical_frame")
    msg = transform_stamped_msg(mount, Time(sec=3, nanosec=5))
    assert (msg.header.frame_id, msg.child_frame_id) == ("panda_link0", "scene_camera_optical_frame")
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (3, 5)
    back = RigidTransform.from_transform_stamped(msg)
    points = np.array([[0.0, 0.0, 1.0], [0.1, -0.2, 0.5]])
    np.testing.assert_allclose(back.apply(points), mount.apply(points), atol=1e-12)


def test_camera_info_round_trips_the_intrinsics():
    k = CameraIntrinsics(fx=500.0, fy=510.0, cx=319.5, cy=239.5, width=640, height=480)
    info = camera_info_msg(k, Header(frame_id="cam"))
    back = CameraIntrinsics.from_camera_info(info)
    assert (back.fx, back.fy, back.cx, back.cy, back.width, back.height) == (
        500.0,
        510.0,
        319.5,
        239.5,
        640,
        480,
    )
    assert not any(back.d)  # zero distortion
    assert info.header.frame_id == "cam" and list(info.d) == [0.0] * 5
