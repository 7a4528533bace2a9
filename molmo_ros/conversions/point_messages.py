"""The pointer's messages: paired camera messages -> :class:`RgbdFrame`, a :class:`PointQueryResult` -> the
``/molmo/point`` response and RViz markers (message packages only, no rclpy)."""

from __future__ import annotations

from typing import Any

from molmo_ros.conversions.images import image_to_numpy, to_rgb
from molmo_ros.conversions.stamps import time_msg
from molmo_ros.errors import CameraInfoError, EncodingError, MolmoRosError
from molmo_ros.geometry import CameraIntrinsics, depth_to_meters
from molmo_ros.pointing.frames import RgbdFrame, RgbdPair
from molmo_ros.pointing.query import PointQueryResult


def to_rgbd_frame(pair: RgbdPair[Any]) -> RgbdFrame:
    """Convert the paired messages; EncodingError / CameraInfoError name what is wrong with them."""
    rgb_msg, depth_msg = pair.rgb.value, pair.depth.value
    try:
        rgb = to_rgb(image_to_numpy(rgb_msg), rgb_msg.encoding)
    except MolmoRosError as err:
        raise EncodingError(f"colour image rejected: {err}") from err
    try:
        depth = depth_to_meters(image_to_numpy(depth_msg), depth_msg.encoding)
    except MolmoRosError as err:
        raise EncodingError(f"depth image rejected: {err}") from err
    try:
        intrinsics = CameraIntrinsics.from_camera_info(pair.camera_info)
    except MolmoRosError as err:
        raise CameraInfoError(f"camera info rejected: {err}") from err
    return RgbdFrame(rgb, depth, pair.rgb.stamp_ns, pair.rgb.frame_id, intrinsics)


def fill_error(response: Any, err: MolmoRosError) -> None:
    """success false and the error's code and message (a Point response, or any result with those fields)."""
    from molmo_ros_interfaces.msg import Error

    response.success = False
    response.error = Error(code=int(err.code), message=str(err))


def fill_point_response(response: Any, result: PointQueryResult) -> None:
    """A molmo_ros_interfaces/srv/Point response from the query's result (points, 3D points, timings)."""
    from geometry_msgs.msg import PointStamped

    from molmo_ros_interfaces.msg import Error, PixelPoint

    response.raw_text = result.text
    response.image_stamp = time_msg(result.stamp_ns)
    timings = result.timings_ms
    response.preprocess_ms = float(timings.get("preprocess", 0.0))
    response.model_ms = float(timings.get("model", 0.0))
    response.postprocess_ms = float(timings.get("parse", 0.0) + timings.get("lift", 0.0))
    for point, xyz, valid in zip(result.pixel_points, result.points_3d, result.depth_valid, strict=False):
        response.pixel_points.append(
            PixelPoint(x=float(point.x), y=float(point.y), label=point.label, object_id=point.object_id)
        )
        stamped = PointStamped()
        stamped.header.frame_id = result.target_frame
        stamped.header.stamp = response.image_stamp
        stamped.point.x, stamped.point.y, stamped.point.z = (float(v) for v in xyz)
        response.points.append(stamped)
        response.depth_valid.append(bool(valid))
    if result.error is not None:
        fill_error(response, result.error)
    else:
        response.success = True
        response.error = Error(code=Error.OK, message="")


def point_markers(result: PointQueryResult, stamp: Any) -> Any:
    """visualization_msgs/MarkerArray: a sphere and a label per point with valid depth (and DELETEALL first)."""
    from visualization_msgs.msg import Marker, MarkerArray

    markers = MarkerArray(markers=[Marker(action=Marker.DELETEALL)])
    for i, (point, xyz, valid) in enumerate(
        zip(result.pixel_points, result.points_3d, result.depth_valid, strict=False)
    ):
        if not valid:
            continue
        for kind, offset in ((Marker.SPHERE, 0.0), (Marker.TEXT_VIEW_FACING, 0.05)):
            marker = Marker(ns="molmo_points", id=2 * i + (kind == Marker.TEXT_VIEW_FACING), type=kind)
            marker.header.frame_id, marker.header.stamp = result.target_frame, stamp
            marker.pose.position.x, marker.pose.position.y = float(xyz[0]), float(xyz[1])
            marker.pose.position.z = float(xyz[2]) + offset
            marker.pose.orientation.w = 1.0
            marker.scale.x = marker.scale.y = marker.scale.z = 0.03
            marker.color.r, marker.color.a = 1.0, 1.0
            marker.text = point.label if kind == Marker.TEXT_VIEW_FACING else ""
            markers.markers.append(marker)
    return markers


def annotated_image(frame: RgbdFrame, result: PointQueryResult, query: str) -> Any:
    """sensor_msgs/Image (rgb8) of `frame`'s colour picture with the answer's points drawn and `query` as the
    caption, stamped and framed as the camera picture."""
    from sensor_msgs.msg import Image

    from molmo_ros.conversions.images import numpy_to_image
    from molmo_ros.pointing.drawing import draw_points

    picture = draw_points(frame.rgb, result.pixel_points, result.depth_valid, caption=query)
    image = numpy_to_image(picture, "rgb8", msg_factory=Image)
    image.header.stamp, image.header.frame_id = time_msg(frame.stamp_ns), frame.frame_id
    return image
