"""The pick node: ``/molmo/pick`` (molmo_ros_interfaces/action/Pick) from a spoken-style query to a lifted object,
and ``/molmo/pick_place`` (PickPlace): "put the red cup in the green bowl", "put all the blocks in the bowl".

Stages (each reported as feedback and timed in the result): pointing (the ``/molmo/point`` service),
locating (segmenting the target in the depth image, grasp candidates), planning (approach and lift, embedded
or moveit_py planner), approaching (the trajectory on the arm controller's topic), grasping (the gripper
service, then the finger joint states tell whether something is held), lifting. Cancelling a goal stops the
arm where it is. Every failure ends the goal with an error code (NOT_FOUND, NO_DEPTH, UNREACHABLE,
PLANNING_FAILED, EXECUTION_FAILED, GRASP_MISSED, CANCELED ...) and the node keeps serving.

The stages are :func:`molmo_ros.planning.pick_task.run_pick` and
:func:`molmo_ros.planning.pick_place_task.run_pick_place` (which adds transporting, placing, releasing,
retreating and verifying, per object); this node reads parameters, holds the sensor subscriptions and both
action servers (one goal at a time: one arm), and gives each goal its ROS I/O (:mod:`molmo_ros.nodes.pick_io`).
Parameters are read again for every goal, so an accepted change applies from the next pick; those the node
reads when it starts (topics, services, the planner: ``AT_START``) are refused with that reason.

Threads: camera and joint-state callbacks run in one callback group, the action's goal in a second one and
the service clients' responses in a third, on a multi-threaded executor: the goal's thread waits for service
responses and joint states without blocking anything else.

Parameters and their defaults: config/pick.yaml (section ``molmo_pick``).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg

from molmo_ros.conversions.pick_results import pick_place_result, pick_result
from molmo_ros.errors import ErrorCode, MolmoRosError
from molmo_ros.nodes.parameters import (
    SERVICE_QOS,
    camera_qos,
    current_values,
    declare_from_config,
    validating_callback,
)
from molmo_ros.nodes.pick_io import RosPickIO, SensorCache
from molmo_ros.nodes.pick_parameters import AT_START, DESCRIPTIONS, validate_parameters
from molmo_ros.nodes.runner import run_node
from molmo_ros.nodes.transforms import tf_listener
from molmo_ros.planning import config as planner_config
from molmo_ros.planning.pick_place_goal import PickPlaceGoal, PickPlaceReport, PickPlaceSettings
from molmo_ros.planning.pick_place_task import run_pick_place
from molmo_ros.planning.pick_task import PickReport, PickTaskSettings, run_pick
from molmo_ros_interfaces.action import Pick, PickPlace
from molmo_ros_interfaces.srv import Point

NODE_NAME = "molmo_pick"
ACTION_NAME = "/molmo/pick"
PICK_PLACE_ACTION = "/molmo/pick_place"


class PickNode(Node):
    """Serves /molmo/pick (see the module docstring)."""

    def __init__(self, planner: Any = None, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._names = list(declare_from_config(self, "pick.yaml", DESCRIPTIONS, NODE_NAME))
        self.add_on_set_parameters_callback(validating_callback(self, validate_parameters, lambda: AT_START))
        p = current_values(self, self._names)
        validate_parameters(p)
        self._lock = threading.Lock()
        self._busy = False
        self.sensors = SensorCache()

        sensors = MutuallyExclusiveCallbackGroup()
        clients = ReentrantCallbackGroup()
        qos = camera_qos(p["image_reliability"], depth=1)
        self.create_subscription(Image, p["depth_topic"], self.sensors.on_depth, qos, callback_group=sensors)
        self.create_subscription(
            CameraInfo, p["camera_info_topic"], self.sensors.on_info, qos, callback_group=sensors
        )
        self.create_subscription(
            JointState, p["joint_states_topic"], self.sensors.on_joints, 10, callback_group=sensors
        )
        tf_buffer, self._tf_listener = tf_listener(self, p["transform_source"])
        self._io_endpoints = (
            self.create_client(Point, p["point_service"], qos_profile=SERVICE_QOS, callback_group=clients),
            self.create_client(SetBool, p["gripper_service"], callback_group=clients),
            self.create_publisher(JointTrajectoryMsg, p["trajectory_topic"], 10),
            tf_buffer,
        )
        self.planner = planner or planner_config.make_planner(p["planner"], p["planner_preset"])
        self._frame = p["planning_frame"]
        # Both actions move the one arm: a goal of either is refused while one runs.
        self._servers = [
            ActionServer(
                self,
                action,
                name,
                execute_callback=execute,
                goal_callback=self._on_goal,
                cancel_callback=lambda _: CancelResponse.ACCEPT,
                callback_group=ReentrantCallbackGroup(),
            )
            for action, name, execute in (
                (Pick, ACTION_NAME, self._execute_pick),
                (PickPlace, PICK_PLACE_ACTION, self._execute_pick_place),
            )
        ]
        self.get_logger().info(
            f"serving {ACTION_NAME} and {PICK_PLACE_ACTION} with the {self.planner.describe()} planner"
        )

    def _on_goal(self, goal: Any) -> GoalResponse:
        with self._lock:
            if self._busy:
                self.get_logger().warning(f"rejecting {goal.query!r}: a goal is running (one arm)")
                return GoalResponse.REJECT
            self._busy = True
        return GoalResponse.ACCEPT

    def _execute_pick(self, goal_handle: ServerGoalHandle) -> Any:
        report = PickReport()

        def run(io: RosPickIO, p: dict[str, Any]) -> None:
            run_pick(goal_handle.request.query, io, self.planner, PickTaskSettings.from_parameters(p), report)

        error = self._run(goal_handle, run)
        return self._finish(goal_handle, pick_result(report, error, self._frame), error, report.timings)

    def _execute_pick_place(self, goal_handle: ServerGoalHandle) -> Any:
        report = PickPlaceReport()
        request = goal_handle.request

        def run(io: RosPickIO, p: dict[str, Any]) -> None:
            place_point = None
            if not request.place_query.strip():
                pose = request.place_pose
                frame = pose.header.frame_id or p["planning_frame"]
                if frame != p["planning_frame"]:
                    raise MolmoRosError(
                        f"place_pose must be in {p['planning_frame']!r}, not {frame!r}",
                        ErrorCode.TRANSFORM_FAILED,
                    )
                place_point = np.array([pose.pose.position.x, pose.pose.position.y, pose.pose.position.z])
            goal = PickPlaceGoal(
                request.query, request.place_query, place_point, request.max_objects, request.max_attempts
            )
            run_pick_place(goal, io, self.planner, PickPlaceSettings.from_parameters(p), report)

        error = self._run(goal_handle, run)
        result = pick_place_result(report, error, self._frame)
        return self._finish(goal_handle, result, error, report.timings)

    def _run(self, goal_handle: ServerGoalHandle, run: Any) -> MolmoRosError | None:
        """Run one goal's stage machine with this goal's I/O; the error that ended it, or None."""
        p = current_values(self, self._names)
        self._frame = p["planning_frame"]
        io = RosPickIO(self, goal_handle, p, self.sensors, self._io_endpoints)
        try:
            run(io, p)
            return None
        except MolmoRosError as err:
            return err
        except Exception as err:  # a bug must end the goal, not the node
            self.get_logger().error(f"{goal_handle.request.query!r} failed: {type(err).__name__}: {err}")
            return MolmoRosError(f"{type(err).__name__}: {err}", ErrorCode.EXECUTION_FAILED)
        finally:
            with self._lock:
                self._busy = False

    def _finish(
        self, goal_handle: ServerGoalHandle, result: Any, error: MolmoRosError | None, timings: dict
    ) -> Any:
        summary = (
            f"{goal_handle.request.query!r}: code {result.error.code} {result.error.message!r}; "
            + ", ".join(f"{k} {v:.0f} ms" for k, v in timings.items())
        )
        if error is not None and error.code == ErrorCode.CANCELED:
            goal_handle.canceled()
            self.get_logger().warning(summary)
        elif result.success:
            goal_handle.succeed()
            self.get_logger().info(summary)
        else:
            goal_handle.abort()
            self.get_logger().warning(summary)
        return result


def main(args: list[str] | None = None) -> int:
    return run_node(PickNode, args, threads=4)


if __name__ == "__main__":
    sys.exit(main())
