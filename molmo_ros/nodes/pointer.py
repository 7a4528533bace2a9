"""The pointer node: camera topics in, ``/molmo/point`` answered in 2D and 3D.

A lifecycle node (like yolo_ros): configure creates the camera subscriptions, publishers and the service;
activate loads the model; deactivate frees it. Camera callbacks and the service run in different callback
groups of a multi-threaded executor, so images keep flowing while the model thinks; one query runs on the
model at a time, `queue_size` more may wait, and any request beyond that gets BUSY at once.

Parameters and their defaults: config/point.yaml (section ``molmo_pointer``).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from builtin_interfaces.msg import Time
from geometry_msgs.msg import PointStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import Marker, MarkerArray

from molmo_ros.capabilities import has_module
from molmo_ros.conversions import image_to_numpy, numpy_to_image, to_rgb
from molmo_ros.errors import CameraInfoError, EncodingError, ErrorCode, MolmoRosError, TransformError
from molmo_ros.geometry import CameraIntrinsics, RigidTransform, depth_to_meters
from molmo_ros.models import BACKENDS, PointModel, load_point_model
from molmo_ros.nodes.parameters import current_values, declare_from_config, validating_callback
from molmo_ros.nodes.runner import run_node
from molmo_ros.pointing import validate_query
from molmo_ros.pointing.drawing import draw_points
from molmo_ros.pointing.frames import FrameSynchronizer, RgbdFrame, RgbdPair, Stamped
from molmo_ros.pointing.query import DepthSettings, PointQueryResult, answer_point_query
from molmo_ros.pointing.request_gate import RequestGate
from molmo_ros_interfaces.msg import Error, PixelPoint
from molmo_ros_interfaces.srv import Point

NODE_NAME = "molmo_pointer"
SERVICE_NAME = "/molmo/point"

DESCRIPTIONS = {
    "backend": "model backend: transformers (in-process) or openai (OpenAI-compatible server, e.g. vLLM)",
    "model": "transformers: checkpoint directory or hub id, empty = bundled; openai: served model name",
    "device": "transformers device: auto, cpu, cuda or cuda:N",
    "dtype": "transformers dtype: auto (bfloat16 on CUDA, float32 on CPU), float32, bfloat16, float16",
    "trust_remote_code": "allow the checkpoint's own Python code (Molmo v1); off unless you trust it",
    "max_new_tokens": "upper bound on generated tokens per answer",
    "server_url": "openai backend: base URL of the server, e.g. http://127.0.0.1:8000/v1",
    "api_key_env": "openai backend: name of the environment variable holding the API key",
    "request_timeout_s": "openai backend: timeout of one HTTP request, seconds",
    "max_retries": "openai backend: retries on connection errors, 5xx and 429",
    "rgb_topic": "colour image topic (sensor_msgs/Image: rgb8, bgr8, rgba8, bgra8, mono8)",
    "depth_topic": "depth image topic (sensor_msgs/Image: 16UC1 millimetres or 32FC1 metres)",
    "camera_info_topic": "sensor_msgs/CameraInfo of the colour camera (depth registered to it)",
    "sync_slop_s": "largest stamp difference between a paired colour and depth image, seconds",
    "image_reliability": "QoS reliability of the camera subscriptions: best_effort or reliable",
    "stale_frame_s": "refuse frames older than this, seconds; 0 disables the check",
    "target_frame": "frame of the returned 3D points",
    "static_transform": "without tf2: camera optical frame in target_frame as [x, y, z, qx, qy, qz, qw]",
    "depth_window": "side of the square window for the median depth at a point, pixels (odd)",
    "min_depth_m": "smallest valid depth, metres",
    "max_depth_m": "largest valid depth, metres",
    "max_query_chars": "longest query accepted, characters",
    "queue_size": "requests that may wait while one runs; beyond that BUSY",
    "annotate": "publish ~/annotated_image and ~/markers after each query",
    "autostart": "configure and activate on start (off when a lifecycle manager drives the node)",
}

RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}
DEVICES_PREFIXES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")


def validate_parameters(values: dict[str, Any]) -> None:
    """Raise ValueError naming the first parameter value that cannot work."""
    if values["backend"] not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {values['backend']!r}")
    if not str(values["device"]).startswith(DEVICES_PREFIXES):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {values['device']!r}")
    if values["dtype"] not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {values['dtype']!r}")
    if values["image_reliability"] not in RELIABILITY:
        raise ValueError(f"image_reliability must be one of {sorted(RELIABILITY)}")
    window = values["depth_window"]
    if window < 1 or window % 2 == 0:
        raise ValueError(f"depth_window must be a positive odd number of pixels, got {window}")
    if not 0 <= values["min_depth_m"] < values["max_depth_m"]:
        raise ValueError("need 0 <= min_depth_m < max_depth_m")
    for name in ("max_new_tokens", "max_query_chars"):
        if values[name] < 1:
            raise ValueError(f"{name} must be >= 1, got {values[name]}")
    for name in ("queue_size", "max_retries", "stale_frame_s", "sync_slop_s"):
        if values[name] < 0:
            raise ValueError(f"{name} must be >= 0, got {values[name]}")
    if values["request_timeout_s"] <= 0:
        raise ValueError("request_timeout_s must be > 0")
    if len(values["static_transform"]) != 7:
        raise ValueError("static_transform must be [x, y, z, qx, qy, qz, qw]")
    RigidTransform.from_xyz_quat(values["static_transform"][:3], values["static_transform"][3:], "a", "b")


class PointerNode(LifecycleNode):
    """Serves /molmo/point from the latest synchronised RGB-D frame."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._names = list(declare_from_config(self, "point.yaml", DESCRIPTIONS, NODE_NAME))
        self.add_on_set_parameters_callback(validating_callback(self, validate_parameters))
        self._camera_group = MutuallyExclusiveCallbackGroup()
        # Reentrant: a second request must reach the gate (and get BUSY) while the first one runs.
        self._query_group = ReentrantCallbackGroup()
        self._model: PointModel | None = None
        self._sync: FrameSynchronizer | None = None
        self._gate: RequestGate | None = None
        self._tf_buffer = None
        self._entities: list[Any] = []
        self._p: dict[str, Any] = {}

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._p = current_values(self, self._names)
        try:
            validate_parameters(self._p)
        except (ValueError, MolmoRosError) as err:
            self.get_logger().error(f"invalid parameters: {err}")
            return TransitionCallbackReturn.FAILURE
        p = self._p
        self._sync = FrameSynchronizer(slop_ns=int(p["sync_slop_s"] * 1e9))
        self._gate = RequestGate(max_waiting=p["queue_size"])
        qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=1, reliability=RELIABILITY[p["image_reliability"]]
        )
        group = self._camera_group
        self._entities = [
            self.create_subscription(Image, p["rgb_topic"], self._on_rgb, qos, callback_group=group),
            self.create_subscription(Image, p["depth_topic"], self._on_depth, qos, callback_group=group),
            self.create_subscription(
                CameraInfo, p["camera_info_topic"], self._on_info, qos, callback_group=group
            ),
            self.create_service(Point, SERVICE_NAME, self._on_point, callback_group=self._query_group),
        ]
        self._annotated_pub = self.create_lifecycle_publisher(Image, "~/annotated_image", 1)
        self._marker_pub = self.create_lifecycle_publisher(MarkerArray, "~/markers", 1)
        if has_module("tf2_ros"):
            import tf2_ros

            self._tf_buffer = tf2_ros.Buffer()
            self._entities.append(tf2_ros.TransformListener(self._tf_buffer, self))
            self.get_logger().info("transforms from tf2")
        else:
            self.get_logger().info(
                f"tf2_ros not installed: 3D points use static_transform into {p['target_frame']!r}"
            )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        p = self._p
        start = time.perf_counter()
        try:
            self._model = self._load_model(p)
        except MolmoRosError as err:
            self.get_logger().error(f"cannot load the model: {err}")
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(
            f"model ready in {time.perf_counter() - start:.1f} s: {self._model.describe()}; "
            f"serving {SERVICE_NAME}"
        )
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unload()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unload()
        self._destroy_entities()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unload()
        return TransitionCallbackReturn.SUCCESS

    def _load_model(self, p: dict[str, Any]) -> PointModel:
        common = {"max_new_tokens": p["max_new_tokens"]}
        if p["backend"] == "openai":
            return load_point_model(
                "openai",
                p["model"],
                base_url=p["server_url"],
                api_key_env=p["api_key_env"],
                timeout_s=p["request_timeout_s"],
                max_retries=p["max_retries"],
                **common,
            )
        return load_point_model(
            "transformers",
            p["model"] or "default",
            device=p["device"],
            dtype=p["dtype"],
            trust_remote_code=p["trust_remote_code"],
            **common,
        )

    def _unload(self) -> None:
        if self._model is not None:
            self._model.close()
            self._model = None

    def _destroy_entities(self) -> None:
        for entity in self._entities:
            if hasattr(entity, "unregister"):  # tf2 listener
                entity.unregister()
            elif hasattr(entity, "srv_name"):
                self.destroy_service(entity)
            else:
                self.destroy_subscription(entity)
        self._entities = []
        self.destroy_lifecycle_publisher(self._annotated_pub)
        self.destroy_lifecycle_publisher(self._marker_pub)

    # ---------------------------------------------------------------- camera callbacks
    # Callbacks only keep the newest messages; conversion happens when a query needs the frame.
    def _on_rgb(self, msg: Image) -> None:
        self._sync.add_rgb(Stamped(_stamp_ns(msg.header.stamp), msg.header.frame_id, msg))

    def _on_depth(self, msg: Image) -> None:
        self._sync.add_depth(Stamped(_stamp_ns(msg.header.stamp), msg.header.frame_id, msg))

    def _on_info(self, msg: CameraInfo) -> None:
        self._sync.set_camera_info(msg)

    # ---------------------------------------------------------------- the service
    def _on_point(self, request: Point.Request, response: Point.Response) -> Point.Response:
        start = time.perf_counter()
        try:
            result = self._answer(request)
        except MolmoRosError as err:
            _fill_error(response, err)
        except Exception as err:  # a model or library bug must not take the node down
            self.get_logger().error(f"query {request.query!r} failed: {type(err).__name__}: {err}")
            _fill_error(response, MolmoRosError(f"{type(err).__name__}: {err}", ErrorCode.MODEL_ERROR))
        else:
            self._fill_result(response, result)
        response.latency_ms = (time.perf_counter() - start) * 1e3
        summary = (
            f"{request.query!r}: {len(response.pixel_points)} point(s), code {response.error.code} "
            f"{response.error.message!r}, {response.latency_ms:.0f} ms"
        )
        # rclpy fixes a log call site's severity at its first call: one call site per severity.
        if response.success:
            self.get_logger().info(summary)
        else:
            self.get_logger().warning(summary)
        return response

    def _answer(self, request: Point.Request) -> PointQueryResult:
        model, p = self._model, self._p
        validate_query(request.query, max_chars=p["max_query_chars"])  # the request first, then the world
        if model is None:
            raise MolmoRosError(
                "the pointer node is not active (no model loaded); activate it first",
                ErrorCode.MODEL_UNAVAILABLE,
            )
        frame = to_rgbd_frame(self._sync.latest(self.get_clock().now().nanoseconds, p["stale_frame_s"]))
        transform = self._camera_to_target(frame, request.target_frame or p["target_frame"])
        depth = DepthSettings(p["depth_window"], p["min_depth_m"], p["max_depth_m"])
        with self._gate.enter():
            result = answer_point_query(
                model,
                frame,
                request.query,
                transform,
                count=request.count,
                depth=depth,
                max_query_chars=p["max_query_chars"],
            )
        if p["annotate"]:
            self._publish_annotations(frame, result, request.query)
        return result

    def _camera_to_target(self, frame: RgbdFrame, target: str) -> RigidTransform:
        if target == frame.frame_id:
            return RigidTransform.identity(target)
        if self._tf_buffer is not None:
            return self._lookup_tf(target, frame)
        if target != self._p["target_frame"]:
            raise TransformError(
                f"cannot transform into {target!r}: tf2_ros is not installed and the static transform "
                f"goes from {frame.frame_id!r} to {self._p['target_frame']!r} only"
            )
        xyzq = self._p["static_transform"]
        return RigidTransform.from_xyz_quat(xyzq[:3], xyzq[3:], target, frame.frame_id)

    def _lookup_tf(self, target: str, frame: RgbdFrame) -> RigidTransform:
        from rclpy.duration import Duration
        from rclpy.time import Time as RclTime

        try:
            msg = self._tf_buffer.lookup_transform(
                target, frame.frame_id, RclTime(nanoseconds=frame.stamp_ns), timeout=Duration(seconds=0.2)
            )
        except Exception as err:  # tf2 raises several unrelated exception types
            raise TransformError(f"no transform {frame.frame_id!r} -> {target!r}: {err}") from err
        return RigidTransform.from_transform_stamped(msg)

    def _fill_result(self, response: Point.Response, result: PointQueryResult) -> None:
        response.raw_text = result.text
        response.image_stamp = _time_msg(result.stamp_ns)
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
            _fill_error(response, result.error)
        else:
            response.success = True
            response.error = Error(code=Error.OK, message="")

    def _publish_annotations(self, frame: RgbdFrame, result: PointQueryResult, query: str) -> None:
        header_stamp = _time_msg(frame.stamp_ns)
        picture = draw_points(frame.rgb, result.pixel_points, result.depth_valid, caption=query)
        image = numpy_to_image(picture, "rgb8", msg_factory=Image)
        image.header.stamp, image.header.frame_id = header_stamp, frame.frame_id
        self._annotated_pub.publish(image)
        markers = MarkerArray(markers=[Marker(action=Marker.DELETEALL)])
        for i, (point, xyz, valid) in enumerate(
            zip(result.pixel_points, result.points_3d, result.depth_valid, strict=False)
        ):
            if not valid:
                continue
            for kind, offset in ((Marker.SPHERE, 0.0), (Marker.TEXT_VIEW_FACING, 0.05)):
                marker = Marker(ns="molmo_points", id=2 * i + (kind == Marker.TEXT_VIEW_FACING), type=kind)
                marker.header.frame_id, marker.header.stamp = result.target_frame, header_stamp
                marker.pose.position.x, marker.pose.position.y = float(xyz[0]), float(xyz[1])
                marker.pose.position.z = float(xyz[2]) + offset
                marker.pose.orientation.w = 1.0
                marker.scale.x = marker.scale.y = marker.scale.z = 0.03
                marker.color.r, marker.color.a = 1.0, 1.0
                marker.text = point.label if kind == Marker.TEXT_VIEW_FACING else ""
                markers.markers.append(marker)
        self._marker_pub.publish(markers)


def to_rgbd_frame(pair: RgbdPair[Image]) -> RgbdFrame:
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


def _fill_error(response: Point.Response, err: MolmoRosError) -> None:
    response.success = False
    response.error = Error(code=int(err.code), message=str(err))


def _stamp_ns(stamp: Time) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def _time_msg(stamp_ns: int) -> Time:
    return Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)


def _autostart(node: PointerNode) -> None:
    if node.get_parameter("autostart").value:
        node.trigger_configure()
        node.trigger_activate()


def main(args: list[str] | None = None) -> int:
    # Threads: camera, service, and one per request allowed to wait (so it can be refused BUSY at once).
    return run_node(PointerNode, args, lambda node: 3 + node.get_parameter("queue_size").value, _autostart)


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["NODE_NAME", "SERVICE_NAME", "PointerNode", "main", "validate_parameters"]
