"""Camera images kept serialized: a subscription with ``raw=True`` hands over the CDR bytes; the stamp is read
from them (:func:`molmo_ros.conversions.stamps.serialized_header`) for pairing, and only the pair a query uses
is decoded. Ingesting 30 Hz 640x480 RGB-D then builds no Python message per frame."""

from __future__ import annotations

from sensor_msgs.msg import Image

from molmo_ros.conversions.stamps import serialized_header, stamp_ns
from molmo_ros.pointing.frames import Stamped


def stamped(msg: Image | bytes) -> Stamped:
    """The message (or its serialized bytes, with the stamp read from them) under its header's stamp."""
    if isinstance(msg, bytes):
        try:
            stamp, frame_id = serialized_header(msg)
        except ValueError:
            stamp, frame_id = 0, ""  # refused at query time with the decoding error
        return Stamped(stamp, frame_id, msg)
    return Stamped(stamp_ns(msg.header.stamp), msg.header.frame_id, msg)


def decoded(item: Stamped) -> Stamped:
    """The same, with serialized bytes decoded into a sensor_msgs/Image."""
    if not isinstance(item.value, bytes):
        return item
    from rclpy.serialization import deserialize_message

    return Stamped(item.stamp_ns, item.frame_id, deserialize_message(item.value, Image))
