"""The pick node: ``/molmo/pick`` (molmo_ros_interfaces/action/Pick) from a spoken-style query to a lifted object.

Stages (each reported as feedback and timed in the result): pointing (the ``/molmo/point`` service),
locating (segmenting the target in the depth image, grasp candidates), planning (approach and lift, embedded
or moveit_py planner), approaching (the trajectory on the arm controller's topic), grasping (the gripper
service, then the finger joint states tell whether something is held), lifting. Cancelling a goal stops the
arm where it is. Every failure ends the goal with an error code (NOT_FOUND, NO_DEPTH, UNREACHABLE,
PLANNING_FAILED, EXECUTION_FAILED, GRASP_MISSED, CANCELED ...) and the node keeps serving.

The stages are :func:`molmo_ros.planning.pick_task.run_pick`; this node reads parameters, holds the sensor
subscriptions and the action server, and gives each goal its ROS I/O (:mod:`molmo_ros.nodes.pick_io`).
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

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg

from molmo_ros.errors import ErrorCode, MolmoRosError
from molmo_ros.geometry import RigidTransform
from molmo_ros.nodes.parameters import (
    RELIABILITY,
    camera_qos,
    current_values,
    declare_from_config,
    validating_callback,
)
from molmo_ros.nodes.pick_io import RosPickIO, SensorCache
from molmo_ros.nodes.runner import run_node
from molmo_ros.nodes.transforms import tf_listener, validate_transform_source
from molmo_ros.planning import config as planner_config
from molmo_ros.planning.pick_task import PickReport, PickTaskSettings, run_pick
from molmo_ros_interfaces.action import Pick
from molmo_ros_interfaces.msg import Error
from molmo_ros_interfaces.srv import Point

NODE_NAME = "molmo_pick"
ACTION_NAME = "/molmo/pick"

DESCRIPTIONS = {
    "planner": "motion planner: embedded (runs anywhere) or moveit (moveit_py)",
    "planner_preset": "preset of config/planners.yaml for the chosen planner",
    "seed": "planning seed (IK restarts, OMPL sampling); the same seed gives the same plan",
    "point_service": "molmo_ros_interfaces/srv/Point service that finds the target",
    "point_timeout_s": "longest wait for the point service, seconds",
    "depth_topic": "depth image topic (16UC1 mm or 32FC1 m), registered to the colour camera",
    "camera_info_topic": "sensor_msgs/CameraInfo of the camera",
    "image_reliability": "QoS reliability of the camera subscriptions: best_effort or reliable",
    "joint_states_topic": "sensor_msgs/JointState topic of the arm and the fingers",
    "trajectory_topic": "trajectory_msgs/JointTrajectory topic of the arm controller",
    "gripper_service": "std_srvs/SetBool service: true closes the gripper, false opens it",
    "planning_frame": "frame of targets, grasps and plans (the robot base)",
    "static_transform": "camera optical frame in planning_frame as [x, y, z, qx, qy, qz, qw] (static source)",
    "transform_source": "camera pose in planning_frame from tf (tf2), static (static_transform) or auto",
    "workspace_min_radius": "targets closer than this to the base axis are unreachable, meters",
    "workspace_max_radius": "targets farther than this from the base axis are unreachable, meters",
    "workspace_min_z": "lowest target height, meters",
    "workspace_max_z": "highest target height, meters",
    "table_z": "expected table height in the planning frame, meters",
    "approach_distance": "pre-grasp height above the grasp, meters",
    "lift_distance": "how far the object is lifted, meters",
    "grasp_depth": "how far below the object's top the fingers close, meters",
    "execution_timeout_factor": "a motion may take this many times its planned duration",
    "execution_timeout_margin_s": "plus this many seconds",
    "goal_tolerance_rad": "largest joint error at the end of a motion, radians",
    "gripper_settle_s": "time for the fingers to close or open, seconds",
    "min_grasp_width": "a closed hand narrower than this holds nothing (GRASP_MISSED), meters",
    "max_attempts": "pick attempts per object in /molmo/pick_place (a miss re-points and tries again)",
    "place_clearance": "a placed object's bottom this far above what it is put on when released, meters",
    "place_slot_radius": "several objects in one container go this far from its centre, meters",
    "place_free_radius": "a place point on the table needs this much room around it, meters",
    "verify_radius": "after a place, a point this close to where the object was means it is still there, m",
}
# Read when the node starts (subscriptions, clients, the planner); every other parameter is read per goal.
AT_START = frozenset(
    {"planner", "planner_preset", "point_service", "transform_source", "depth_topic", "camera_info_topic",
     "image_reliability", "joint_states_topic", "trajectory_topic", "gripper_service"}
)  # fmt: skip


def validate_parameters(values: dict[str, Any]) -> None:
    """Raise ValueError naming the first parameter value that cannot work."""
    if values["planner"] not in planner_config.BACKENDS:
        raise ValueError(f"planner must be one of {planner_config.BACKENDS}, got {values['planner']!r}")
    planner_config.load_preset(values["planner"], values["planner_preset"])
    if values["image_reliability"] not in RELIABILITY:
        raise ValueError(f"image_reliability must be one of {sorted(RELIABILITY)}")
    validate_transform_source(values["transform_source"])
    if len(values["static_transform"]) != 7:
        raise ValueError("static_transform must be [x, y, z, qx, qy, qz, qw]")
    RigidTransform.from_xyz_quat(values["static_transform"][:3], values["static_transform"][3:], "a", "b")
    if not 0.0 <= values["workspace_min_radius"] < values["workspace_max_radius"]:
        raise ValueError("need 0 <= workspace_min_radius < workspace_max_radius")
    if not values["workspace_min_z"] < values["workspace_max_z"]:
        raise ValueError("need workspace_min_z < workspace_max_z")
    for name in ("approach_distance", "lift_distance", "grasp_depth", "point_timeout_s", "gripper_settle_s",
                 "place_clearance", "place_slot_radius", "place_free_radius", "verify_radius"):  # fmt: skip
        if values[name] <= 0:
            raise ValueError(f"{name} must be > 0, got {values[name]}")
    if not 1 <= values["max_attempts"] <= 10:
        raise ValueError("max_attempts must be 1-10")
    if values["execution_timeout_factor"] < 1.0:
        raise ValueError("execution_timeout_factor must be >= 1")


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
            self.create_client(Point, p["point_service"], callback_group=clients),
            self.create_client(SetBool, p["gripper_service"], callback_group=clients),
            self.create_publisher(JointTrajectoryMsg, p["trajectory_topic"], 10),
            tf_buffer,
        )
        self.planner = planner or planner_config.make_planner(p["planner"], p["planner_preset"])
        self._server = ActionServer(
            self,
            Pick,
            ACTION_NAME,
            execute_callback=self._execute,
            goal_callback=self._on_goal,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(),
        )
        self.get_logger().info(f"serving {ACTION_NAME} with the {self.planner.describe()} planner")

    def _on_goal(self, goal: Pick.Goal) -> GoalResponse:
        with self._lock:
            if self._busy:
                self.get_logger().warning(f"rejecting {goal.query!r}: a pick is running")
                return GoalResponse.REJECT
            self._busy = True
        return GoalResponse.ACCEPT

    def _execute(self, goal_handle: ServerGoalHandle) -> Pick.Result:
        result = Pick.Result()
        report = PickReport()
        query = goal_handle.request.query
        p = current_values(self, self._names)
        io = RosPickIO(self, goal_handle, p, self.sensors, self._io_endpoints)
        try:
            run_pick(query, io, self.planner, PickTaskSettings.from_parameters(p), report)
            result.success = True
            result.error = Error(code=Error.OK, message="")
        except MolmoRosError as err:
            result.success = False
            result.error = Error(code=int(err.code), message=str(err))
        except Exception as err:  # a bug must end the goal, not the node
            self.get_logger().error(f"pick {query!r} failed: {type(err).__name__}: {err}")
            result.success = False
            result.error = Error(code=int(ErrorCode.EXECUTION_FAILED), message=f"{type(err).__name__}: {err}")
        finally:
            with self._lock:
                self._busy = False
        if io.target_msg is not None:
            result.target = io.target_msg
        result.stage_names = list(report.timings)
        result.stage_ms = [float(v) for v in report.timings.values()]
        summary = f"pick {query!r}: code {result.error.code} {result.error.message!r}; " + ", ".join(
            f"{k} {v:.0f} ms" for k, v in report.timings.items()
        )
        if result.error.code == Error.CANCELED:
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
