"""The pointer node: camera topics in, ``/molmo/point`` answered in 2D and 3D.

A lifecycle node (like yolo_ros): configure creates the service and publishers; activate loads the model
and subscribes to the camera; deactivate frees both (an inactive node takes no frames). By default no code
runs per camera frame: a query takes the newest messages DDS holds (:mod:`molmo_ros.nodes.camera_intake`,
``take_on_query``). Parameters that only shape the next answer (depth window, stale-frame limit, target
frame ...; ``LIVE``) apply as soon as they are set; the others are read at configure, and changing them while
the node is configured is refused with that reason. Queries run in a reentrant callback group of a
multi-threaded executor; one query runs on the model at a time, `queue_size` more may wait, and any request
beyond that gets BUSY at once.

Parameters and their defaults: config/point.yaml (section ``molmo_pointer``).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import Image
from visualization_msgs.msg import MarkerArray

from molmo_ros.capabilities import has_module
from molmo_ros.conversions.point_messages import (
    annotated_image,
    fill_error,
    fill_point_response,
    point_markers,
    to_rgbd_frame,
)
from molmo_ros.conversions.stamps import time_msg
from molmo_ros.errors import ErrorCode, MolmoRosError
from molmo_ros.models import PointModel, load_from_parameters
from molmo_ros.nodes.camera_intake import CameraIntake
from molmo_ros.nodes.parameters import (
    SERVICE_QOS,
    current_values,
    declare_from_config,
    validating_callback,
)
from molmo_ros.nodes.pointer_parameters import DESCRIPTIONS, LIVE, validate_parameters
from molmo_ros.nodes.runner import run_node
from molmo_ros.nodes.serialized import decoded
from molmo_ros.nodes.transforms import camera_to_target, tf_listener
from molmo_ros.pointing import validate_query
from molmo_ros.pointing.frames import FrameSynchronizer, RgbdFrame, RgbdPair
from molmo_ros.pointing.query import DepthSettings, PointQueryResult, answer_point_query
from molmo_ros.pointing.request_gate import RequestGate
from molmo_ros_interfaces.srv import Point

NODE_NAME = "molmo_pointer"
SERVICE_NAME = "/molmo/point"


class PointerNode(LifecycleNode):
    """Serves /molmo/point from the latest synchronised RGB-D frame."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._names = list(declare_from_config(self, "point.yaml", DESCRIPTIONS, NODE_NAME))
        self._frozen = frozenset(self._names) - LIVE
        self.add_on_set_parameters_callback(
            validating_callback(self, validate_parameters, lambda: () if self._sync is None else self._frozen)
        )
        self.add_post_set_parameters_callback(self._apply_parameters)
        self._camera_group = MutuallyExclusiveCallbackGroup()
        # Reentrant: a second request must reach the gate (and get BUSY) while the first one runs.
        self._query_group = ReentrantCallbackGroup()
        self._model: PointModel | None = None
        self._load_error = ""  # why the last activation could not load the model (for the service's answer)
        self._sync: FrameSynchronizer | None = None
        self._gate: RequestGate | None = None
        self._tf_buffer = None
        self._entities: list[Any] = []  # the service and the tf listener (configure to cleanup)
        self._intake: CameraIntake | None = None  # the camera subscriptions (activate to deactivate)
        self._p: dict[str, Any] = {}

    def _apply_parameters(self, changes: list[Any]) -> None:
        """After a change was accepted: the next request uses it (live parameters while configured)."""
        if self._p:
            self._p = {**self._p, **{c.name: c.value for c in changes if c.name in LIVE}}

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._p = current_values(self, self._names)
        try:
            validate_parameters(self._p)
        except (ValueError, MolmoRosError) as err:
            self.get_logger().error(f"invalid parameters: {err}")
            return TransitionCallbackReturn.FAILURE
        p = self._p
        self._sync = FrameSynchronizer(slop_ns=int(p["sync_slop_s"] * 1e9), history=p["sync_history"])
        self._gate = RequestGate(max_waiting=p["queue_size"])
        self._entities = [
            self.create_service(
                Point, SERVICE_NAME, self._on_point, qos_profile=SERVICE_QOS, callback_group=self._query_group
            )
        ]
        self._annotated_pub = self.create_lifecycle_publisher(Image, "~/annotated_image", 1)
        self._marker_pub = self.create_lifecycle_publisher(MarkerArray, "~/markers", 1)
        self._tf_buffer, listener = tf_listener(self, p["transform_source"])
        if listener is not None:
            self._entities.append(listener)
            self.get_logger().info("camera pose from tf2")
        else:
            self.get_logger().info(
                f"camera pose from static_transform into {p['target_frame']!r} "
                f"(transform_source {p['transform_source']!r}; tf2_ros installed: {has_module('tf2_ros')})"
            )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        p = self._p
        start = time.perf_counter()
        try:
            self._model = load_from_parameters(p)
        except MolmoRosError as err:
            self._load_error = str(err)
            self.get_logger().error(f"cannot load the model: {err}")
            return TransitionCallbackReturn.FAILURE
        self._load_error = ""
        self._intake = CameraIntake(self, self._sync, p, self._camera_group)
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
        for entity in self._entities:
            entity.unregister() if hasattr(entity, "unregister") else self.destroy_service(entity)
        self._entities = []
        self.destroy_lifecycle_publisher(self._annotated_pub)
        self.destroy_lifecycle_publisher(self._marker_pub)
        self._sync, self._p = None, {}
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unload()
        return TransitionCallbackReturn.SUCCESS

    def frame_stamp_ns(self) -> int | None:
        """Stamp of the colour/depth pair a query would use now (ns), None before one (takes what waits)."""
        if self._intake is not None:
            self._intake.drain()
        return None if self._sync is None else self._sync.paired_stamp_ns

    def _unload(self) -> None:
        """Free the model and stop taking frames (the frames kept are dropped with them)."""
        if self._intake is not None:
            self._intake.close()
            self._intake = None
        if self._sync is not None:
            self._sync.clear()
        if self._model is not None:
            self._model.close()
            self._model = None

    # ---------------------------------------------------------------- the service
    def _on_point(self, request: Point.Request, response: Point.Response) -> Point.Response:
        start = time.perf_counter()
        try:
            result = self._answer(request)
        except MolmoRosError as err:
            fill_error(response, err)
        except Exception as err:  # a model or library bug must not take the node down
            self.get_logger().error(f"query {request.query!r} failed: {type(err).__name__}: {err}")
            fill_error(response, MolmoRosError(f"{type(err).__name__}: {err}", ErrorCode.MODEL_ERROR))
        else:
            fill_point_response(response, result)
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
            why = f"; the last activation failed: {self._load_error}" if self._load_error else ""
            raise MolmoRosError(
                f"the pointer node is not active (no model loaded); activate it first{why}",
                ErrorCode.MODEL_UNAVAILABLE,
            )
        intake = self._intake
        if intake is not None:
            intake.wait_until_ready(p["first_frame_wait_s"])
        pair = self._sync.latest(self.get_clock().now().nanoseconds, p["stale_frame_s"])
        frame = to_rgbd_frame(RgbdPair(decoded(pair.rgb), decoded(pair.depth), pair.camera_info))
        transform = camera_to_target(self._tf_buffer, frame, request.target_frame or p["target_frame"], p)
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
                max_points=p["max_points"],
                stop_after_points=p["stop_after_points"],
            )
        if p["annotate"]:
            self._publish_annotations(frame, result, request.query)
        return result

    def _publish_annotations(self, frame: RgbdFrame, result: PointQueryResult, query: str) -> None:
        self._annotated_pub.publish(annotated_image(frame, result, query))
        self._marker_pub.publish(point_markers(result, time_msg(frame.stamp_ns)))


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
