"""The oracle point node: ``/molmo/point`` answered from the simulation's ground truth, not a model.

A point source behind the same service as the model (molmo_ros_interfaces/srv/Point), for evaluating grasping
and planning alone: it asks the simulation (``/sim/get_scene_state``) where the named objects are and answers
their centres, exactly. Parameters and their defaults: config/pick.yaml (section ``molmo_oracle_pointer``).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from geometry_msgs.msg import PointStamped
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from molmo_ros.errors import ErrorCode, MolmoRosError
from molmo_ros.nodes.parameters import SERVICE_QOS, current_values, declare_from_config
from molmo_ros.nodes.pick_io import wait_for
from molmo_ros.nodes.runner import run_node
from molmo_ros.planning.targets import match_labels
from molmo_ros.sim.catalogue import COLOURS
from molmo_ros_interfaces.msg import Error, PixelPoint
from molmo_ros_interfaces.srv import GetSceneState, Point

NODE_NAME = "molmo_oracle_pointer"
DESCRIPTIONS = {
    "service_name": "the molmo_ros_interfaces/srv/Point service to serve",
    "state_service": "molmo_ros_interfaces/srv/GetSceneState service of the simulation",
    "state_timeout_s": "longest wait for the simulation's ground truth, seconds",
}


class OraclePointNode(Node):
    """Answers /molmo/point from the simulation's ground truth: the named object's centre, exactly.

    A point source behind the same service as the model, for evaluating grasping and planning alone.
    A query that names no object in the scene gets NOT_FOUND; several matching objects give several points
    ("all the blocks" names every block, "the blue block" only a blue one).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._names = list(declare_from_config(self, "pick.yaml", DESCRIPTIONS, NODE_NAME))
        p = current_values(self, self._names)
        group = ReentrantCallbackGroup()
        self._state_client = self.create_client(GetSceneState, p["state_service"], callback_group=group)
        self.create_service(
            Point, p["service_name"], self._on_point, qos_profile=SERVICE_QOS, callback_group=group
        )

    def _on_point(self, request: Point.Request, response: Point.Response) -> Point.Response:
        start = time.perf_counter()
        try:
            self._answer(request, response)
        except MolmoRosError as err:
            response.success = False
            response.error = Error(code=int(err.code), message=str(err))
        response.latency_ms = response.model_ms = (time.perf_counter() - start) * 1e3
        return response

    def _answer(self, request: Point.Request, response: Point.Response) -> None:
        p = current_values(self, self._names)
        if not request.query.strip():
            raise MolmoRosError("the query is empty", ErrorCode.INVALID_REQUEST)
        if not self._state_client.wait_for_service(timeout_sec=2.0):
            raise MolmoRosError(
                f"the simulation's {p['state_service']} is not available", ErrorCode.MODEL_UNAVAILABLE
            )
        state = wait_for(
            self._state_client.call_async(GetSceneState.Request()), p["state_timeout_s"], p["state_service"]
        )
        if request.target_frame and request.target_frame != state.frame_id:
            raise MolmoRosError(
                f"the oracle gives points in {state.frame_id!r} only, not {request.target_frame!r}",
                ErrorCode.TRANSFORM_FAILED,
            )
        labels = [f"{o.colour} {o.kind}" for o in state.objects]
        hits = match_labels(request.query, labels, COLOURS)
        response.raw_text = ", ".join(labels[i] for i in hits) or "There are none."
        response.image_stamp = state.stamp
        if not hits:
            raise MolmoRosError(f"no object in the scene matches {request.query!r}", ErrorCode.NOT_FOUND)
        for i in hits:
            obj = state.objects[i]
            response.pixel_points.append(
                PixelPoint(
                    x=float(obj.pixel_x),
                    y=float(obj.pixel_y),
                    label=labels[i],
                    object_id=len(response.points) + 1,
                )
            )
            stamped = PointStamped()
            stamped.header.frame_id, stamped.header.stamp = state.frame_id, state.stamp
            stamped.point = type(stamped.point)(
                x=obj.pose.position.x, y=obj.pose.position.y, z=obj.pose.position.z
            )
            response.points.append(stamped)
            response.depth_valid.append(True)
        response.success = True
        response.error = Error(code=Error.OK, message="")


def main(args: list[str] | None = None) -> int:
    return run_node(OraclePointNode, args, threads=2)


if __name__ == "__main__":
    sys.exit(main())
