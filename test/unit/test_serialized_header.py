"""The stamp and frame of a serialized message read from its CDR bytes, without decoding the image."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CameraInfo, Image

from molmo_ros.conversions import numpy_to_image
from molmo_ros.conversions.stamps import serialized_header


@pytest.mark.parametrize("frame_id", ["camera_color_optical_frame", "", "kamera_ü"])
def test_the_header_of_a_serialized_image_is_read_without_decoding_it(frame_id):
    msg = numpy_to_image(np.zeros((48, 64, 3), np.uint8), "rgb8", msg_factory=Image)
    msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id = 1_796_000_000, 123_456_789, frame_id
    assert serialized_header(serialize_message(msg)) == (1_796_000_000_123_456_789, frame_id)
    info = CameraInfo()
    info.header.stamp.sec, info.header.frame_id = 7, frame_id
    assert serialized_header(serialize_message(info)) == (7_000_000_000, frame_id)


@pytest.mark.parametrize("data", [b"", b"\x00\x01\x00\x00" + b"\x00" * 8, b"\x47\x49\x46\x38" * 8])
def test_bytes_that_are_not_a_header_are_refused(data):
    with pytest.raises(ValueError):
        serialized_header(data)
