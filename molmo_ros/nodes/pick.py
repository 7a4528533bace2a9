"""The pick node: ``/molmo/pick`` (molmo_ros_interfaces/action/Pick) from a spoken-style query to a lifted object.

Stages (each reported as feedback and timed in the result): pointing (the ``/molmo/point`` service),
locating (segmenting the target in the depth image, grasp candidates), planning (approach and lift, embedded
or moveit_py planner), approaching (the trajectory on the arm controller's topic), grasping (the gripper
service, then the finger joint states tell whether something is held), lifting. Cancelling a goal stops the
arm where it is. Every failure ends the goal with an error code (NOT_FOUND, NO_DEPTH, UNREACHABLE,
PLANNING_FAILED, EXECUTION_FAILED, GRASP_MISSED, CANCELED ...) and the node keeps serving.

Threads: camera and joint-state callbacks run in one callback group, the action's goal in a second one and
the service clients' responses in a third, on a multi-threaded executor: the goal's thread waits for service
responses and joint states without blocking anything else.

Also here: :class:`OraclePointNode`, a point source answering ``/molmo/point`` from the simulation's ground
truth (``/sim/get_scene_state``), for evaluating the pick without a model.

Parameters and their defaults: config/pick.yaml (sections ``molmo_pick`` and ``molmo_oracle_pointer``).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import PointStamped
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg
from trajectory_msgs.msg import JointTrajectoryPoint

from molmo_ros.capabilities import has_module
from molmo_ros.conversions import image_to_numpy
from molmo_ros.errors import ErrorCode, MolmoRosError
from molmo_ros.geometry import CameraIntrinsics, RigidTransform, depth_to_meters
from molmo_ros.nodes.parameters import current_values, declare_from_config, validating_callback
from molmo_ros.nodes.runner import run_node
from molmo_ros.planning import config as planner_config
from molmo_ros.planning.grasp import GraspSettings, Workspace
from molmo_ros.planning.perception import PerceptionSettings
from molmo_ros.planning.pick import PickSettings, lift_waypoints, locate, plan_pick
from molmo_ros.planning.planner import JointState as PlannerJointState
from molmo_ros.planning.targets import match_labels
from molmo_ros.sim.trajectory import JointTrajectory
from molmo_ros_interfaces.action import Pick
from molmo_ros_interfaces.msg import Error, PixelPoint
from molmo_ros_interfaces.srv import GetSceneState, Point

NODE_NAME = "molmo_pick"
ACTION_NAME = "/molmo/pick"
ORACLE_NODE_NAME = "molmo_oracle_pointer"
FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")

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
    "static_transform": "without tf2: camera optical frame in planning_frame as [x, y, z, qx, qy, qz, qw]",
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
}
ORACLE_DESCRIPTIONS = {
    "service_name": "the molmo_ros_interfaces/srv/Point service to serve",
    "state_service": "molmo_ros_interfaces/srv/GetSceneState service of the simulation",
    "state_timeout_s": "longest wait for the simulation's ground truth, seconds",
}
RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}


def validate_parameters(values: dict[str, Any]) -> None:
    """Raise ValueError naming the first parameter value that cannot work."""
    if values["planner"] not in planner_config.BACKENDS:
        raise ValueError(f"planner must be one of {planner_config.BACKENDS}, got {values['planner']!r}")
    planner_config.load_preset(values["planner"], values["planner_preset"])
    if values["image_reliability"] not in RELIABILITY:
        raise ValueError(f"image_reliability must be one of {sorted(RELIABILITY)}")
    if len(values["static_transform"]) != 7:
        raise ValueError("static_transform must be [x, y, z, qx, qy, qz, qw]")
    RigidTransform.from_xyz_quat(values["static_transform"][:3], values["static_transform"][3:], "a", "b")
    if not 0.0 <= values["workspace_min_radius"] < values["workspace_max_radius"]:
        raise ValueError("need 0 <= workspace_min_radius < workspace_max_radius")
    if not values["workspace_min_z"] < values["workspace_max_z"]:
        raise ValueError("need workspace_min_z < workspace_max_z")
    for name in ("approach_distance", "lift_distance", "grasp_depth", "point_timeout_s", "gripper_settle_s"):
        if values[name] <= 0:
            raise ValueError(f"{name} must be > 0, got {values[name]}")
    if values["execution_timeout_factor"] < 1.0:
        raise ValueError("execution_timeout_factor must be >= 1")


class _Canceled(MolmoRosError):
    code = ErrorCode.CANCELED


@contextlib.contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Record the milliseconds spent in `stage`, also when it fails."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = (time.perf_counter() - start) * 1e3


def _stamp_s(stamp: Any) -> float:
    return stamp.sec + 1e-9 * stamp.nanosec


def to_trajectory_msg(trajectory: JointTrajectory) -> JointTrajectoryMsg:
    """The library's trajectory as trajectory_msgs/JointTrajectory (stamp 0: start on arrival)."""
    msg = JointTrajectoryMsg(joint_names=list(trajectory.joint_names))
    for i, t in enumerate(trajectory.times):
        nanoseconds = round(float(t) * 1e9)
        point = JointTrajectoryPoint(
            positions=[float(v) for v in trajectory.positions[i]],
            time_from_start=Duration(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000),
        )
        if trajectory.velocities is not None:
            point.velocities = [float(v) for v in trajectory.velocities[i]]
        msg.points.append(point)
    return msg


class PickNode(Node):
    """Serves /molmo/pick (see the module docstring)."""

    def __init__(self, planner: Any = None, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._names = list(declare_from_config(self, "pick.yaml", DESCRIPTIONS, NODE_NAME))
        self.add_on_set_parameters_callback(validating_callback(self, validate_parameters))
        p = current_values(self, self._names)
        validate_parameters(p)
        self._lock = threading.Lock()
        self._depth: Image | None = None
        self._info: CameraInfo | None = None
        self._joints: JointState | None = None
        self._joint_event = threading.Condition(self._lock)
        self._busy = False

        sensors = MutuallyExclusiveCallbackGroup()
        self._goal_group = ReentrantCallbackGroup()
        self._client_group = ReentrantCallbackGroup()
        qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=1, reliability=RELIABILITY[p["image_reliability"]]
        )
        self.create_subscription(Image, p["depth_topic"], self._on_depth, qos, callback_group=sensors)
        self.create_subscription(
            CameraInfo, p["camera_info_topic"], self._on_info, qos, callback_group=sensors
        )
        self.create_subscription(
            JointState, p["joint_states_topic"], self._on_joints, 10, callback_group=sensors
        )
        self._trajectory_pub = self.create_publisher(JointTrajectoryMsg, p["trajectory_topic"], 10)
        self._point_client = self.create_client(Point, p["point_service"], callback_group=self._client_group)
        self._gripper_client = self.create_client(
            SetBool, p["gripper_service"], callback_group=self._client_group
        )
        self._tf_buffer = None
        if has_module("tf2_ros"):
            import tf2_ros

            self._tf_buffer = tf2_ros.Buffer()
            self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self)

        self.planner = planner or planner_config.make_planner(p["planner"], p["planner_preset"])
        self._robot = getattr(self.planner, "robot", None)  # the embedded planner's model filters the arm
        self._server = ActionServer(
            self,
            Pick,
            ACTION_NAME,
            execute_callback=self._execute,
            goal_callback=self._on_goal,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=self._goal_group,
        )
        self.get_logger().info(f"serving {ACTION_NAME} with the {self.planner.describe()} planner")

    # ---------------------------------------------------------------- sensors
    def _on_depth(self, msg: Image) -> None:
        with self._lock:
            self._depth = msg

    def _on_info(self, msg: CameraInfo) -> None:
        with self._lock:
            self._info = msg

    def _on_joints(self, msg: JointState) -> None:
        with self._joint_event:
            self._joints = msg
            self._joint_event.notify_all()

    def _joint_state(self) -> JointState:
        with self._lock:
            if self._joints is None:
                raise MolmoRosError("no joint states received yet", ErrorCode.EXECUTION_FAILED)
            return self._joints

    @staticmethod
    def _planner_state(msg: JointState) -> PlannerJointState:
        return PlannerJointState(tuple(msg.name), np.array(msg.position, dtype=float))

    # ---------------------------------------------------------------- the action
    def _on_goal(self, goal: Pick.Goal) -> GoalResponse:
        with self._lock:
            if self._busy:
                self.get_logger().warning(f"rejecting {goal.query!r}: a pick is running")
                return GoalResponse.REJECT
            self._busy = True
        return GoalResponse.ACCEPT

    def _execute(self, goal_handle: ServerGoalHandle) -> Pick.Result:
        result = Pick.Result()
        timings: dict[str, float] = {}
        query = goal_handle.request.query
        try:
            self._run(goal_handle, query, result, timings)
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
        result.stage_names = list(timings)
        result.stage_ms = [float(v) for v in timings.values()]
        summary = f"pick {query!r}: code {result.error.code} {result.error.message!r}; " + ", ".join(
            f"{k} {v:.0f} ms" for k, v in timings.items()
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

    def _stage(self, goal_handle: ServerGoalHandle, stage: str, detail: str) -> None:
        if goal_handle.is_cancel_requested:
            raise _Canceled(f"canceled before {stage}")
        feedback = Pick.Feedback(stage=stage, detail=detail)
        goal_handle.publish_feedback(feedback)

    def _run(
        self, goal_handle: ServerGoalHandle, query: str, result: Pick.Result, timings: dict[str, float]
    ) -> None:
        p = current_values(self, self._names)
        if not query.strip():
            raise MolmoRosError("the query is empty", ErrorCode.INVALID_REQUEST)

        with _timed(timings, Pick.Goal.STAGE_POINTING):
            self._stage(goal_handle, Pick.Goal.STAGE_POINTING, f"asking {p['point_service']} for {query!r}")
            target, depth_msg, info_msg = self._point(query, p)
            result.target = target
        with _timed(timings, Pick.Goal.STAGE_LOCATING):
            xyz = np.array([target.point.x, target.point.y, target.point.z])
            self._stage(goal_handle, Pick.Goal.STAGE_LOCATING, f"target at {np.round(xyz, 3).tolist()} m")
            self._settings(p).workspace.check(xyz)  # an out-of-reach target needs no camera or arm state
            located, joints = self._locate(xyz, depth_msg, info_msg, p)
        with _timed(timings, Pick.Goal.STAGE_PLANNING):
            self._stage(
                goal_handle, Pick.Goal.STAGE_PLANNING, f"{len(located.candidates)} grasp candidate(s)"
            )
            plan = plan_pick(self.planner, self._planner_state(joints), located, int(p["seed"]))
        with _timed(timings, Pick.Goal.STAGE_APPROACHING):
            self._stage(
                goal_handle,
                Pick.Goal.STAGE_APPROACHING,
                f"{plan.approach.trajectory.duration:.1f} s to the grasp",
            )
            self._gripper(False, p)
            self._execute_trajectory(goal_handle, plan.approach.trajectory, p)
        with _timed(timings, Pick.Goal.STAGE_GRASPING):
            self._stage(goal_handle, Pick.Goal.STAGE_GRASPING, "closing the gripper")
            self._gripper(True, p)
            width = self._finger_width()
            if width < p["min_grasp_width"]:
                self._gripper(False, p)
                raise MolmoRosError(
                    f"the gripper closed on nothing ({width * 1000:.1f} mm between the fingers)",
                    ErrorCode.GRASP_MISSED,
                )
        with _timed(timings, Pick.Goal.STAGE_LIFTING):
            self._stage(goal_handle, Pick.Goal.STAGE_LIFTING, f"lifting {p['lift_distance'] * 100:.0f} cm")
            # Re-plan the lift from where the arm really is (the object may have nudged it); keep the plan
            # made before moving if that fails.
            lift = self.planner.plan(
                self._planner_state(self._joint_state()),
                lift_waypoints(plan.candidate, plan.target_name),
                plan.scene,
                int(p["seed"]),
            )
            self._execute_trajectory(goal_handle, (lift if lift.ok else plan.lift).trajectory, p)
            width = self._finger_width()
            if width < p["min_grasp_width"]:
                raise MolmoRosError(
                    f"the object slipped out while lifting ({width * 1000:.1f} mm between the fingers)",
                    ErrorCode.GRASP_MISSED,
                )
        self._stage(goal_handle, Pick.Goal.STAGE_DONE, f"holding the object ({width * 1000:.0f} mm)")

    # ---------------------------------------------------------------- stages
    def _wait(
        self, future: Any, timeout_s: float, what: str, goal_handle: ServerGoalHandle | None = None
    ) -> Any:
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        deadline = time.monotonic() + timeout_s
        while not done.wait(0.05):
            if goal_handle is not None and goal_handle.is_cancel_requested:
                raise _Canceled(f"canceled while waiting for {what}")
            if time.monotonic() > deadline:
                future.cancel()
                raise MolmoRosError(f"no answer from {what} within {timeout_s:g} s", ErrorCode.TIMEOUT)
        return future.result()

    def _point(self, query: str, p: dict[str, Any]) -> tuple[PointStamped, Image | None, CameraInfo | None]:
        if not self._point_client.wait_for_service(timeout_sec=2.0):
            raise MolmoRosError(
                f"the point service {p['point_service']} is not available", ErrorCode.MODEL_UNAVAILABLE
            )
        request = Point.Request(query=query, target_frame=p["planning_frame"])
        response = self._wait(
            self._point_client.call_async(request), p["point_timeout_s"], p["point_service"]
        )
        with self._lock:
            depth, info = self._depth, self._info
        if not response.success:
            raise MolmoRosError(
                response.error.message or "the point service failed", ErrorCode(response.error.code)
            )
        if not response.points:
            raise MolmoRosError(f"no point for {query!r}", ErrorCode.NOT_FOUND)
        if not response.depth_valid[0]:
            raise MolmoRosError(f"no valid depth at the point found for {query!r}", ErrorCode.NO_DEPTH)
        return response.points[0], depth, info

    def _camera_to_base(self, frame_id: str, p: dict[str, Any]) -> RigidTransform:
        if self._tf_buffer is not None:
            from rclpy.duration import Duration as RclDuration
            from rclpy.time import Time as RclTime

            try:
                msg = self._tf_buffer.lookup_transform(
                    p["planning_frame"], frame_id, RclTime(), timeout=RclDuration(seconds=0.5)
                )
                return RigidTransform.from_transform_stamped(msg)
            except Exception as err:  # tf2 raises several unrelated types
                raise MolmoRosError(
                    f"no transform {frame_id!r} -> {p['planning_frame']!r}: {err}", ErrorCode.TRANSFORM_FAILED
                ) from err
        xyzq = p["static_transform"]
        return RigidTransform.from_xyz_quat(xyzq[:3], xyzq[3:], p["planning_frame"], frame_id or "camera")

    def _settings(self, p: dict[str, Any]) -> PickSettings:
        return PickSettings(
            workspace=Workspace(
                p["workspace_min_radius"],
                p["workspace_max_radius"],
                p["workspace_min_z"],
                p["workspace_max_z"],
            ),
            grasp=GraspSettings(
                approach=p["approach_distance"], lift=p["lift_distance"], depth=p["grasp_depth"]
            ),
            perception=PerceptionSettings(table_z=p["table_z"]),
        )

    def _locate(
        self, xyz: np.ndarray, depth_msg: Image | None, info_msg: CameraInfo | None, p: dict[str, Any]
    ):
        settings = self._settings(p)
        settings.workspace.check(xyz)  # before anything else: an out-of-reach target needs no camera
        if depth_msg is None or info_msg is None:
            raise MolmoRosError(
                f"no depth image or camera info received on {p['depth_topic']} / {p['camera_info_topic']}",
                ErrorCode.NO_DEPTH,
            )
        depth = depth_to_meters(image_to_numpy(depth_msg), depth_msg.encoding)
        joints = self._joint_state()
        intrinsics = CameraIntrinsics.from_camera_info(info_msg)
        transform = self._camera_to_base(depth_msg.header.frame_id, p)
        capsules = None
        if self._robot is not None:
            q = self._robot.full_configuration(tuple(joints.name), np.array(joints.position, dtype=float))
            capsules = self._robot.link_capsules(q)
        return locate(xyz, depth, intrinsics, transform, settings, capsules), joints

    def _gripper(self, close: bool, p: dict[str, Any]) -> None:
        if not self._gripper_client.wait_for_service(timeout_sec=2.0):
            raise MolmoRosError(
                f"the gripper service {p['gripper_service']} is not available", ErrorCode.EXECUTION_FAILED
            )
        response = self._wait(
            self._gripper_client.call_async(SetBool.Request(data=close)), 10.0, p["gripper_service"]
        )
        if not response.success:
            raise MolmoRosError(f"the gripper refused: {response.message}", ErrorCode.EXECUTION_FAILED)
        # Wait (on the joint states' clock) for the fingers to come to rest.
        self._wait_joint_time(float(p["gripper_settle_s"]), 10.0 + 5.0 * float(p["gripper_settle_s"]))

    def _finger_width(self) -> float:
        msg = self._joint_state()
        index = {n: i for i, n in enumerate(msg.name)}
        if not all(n in index for n in FINGER_JOINTS):
            raise MolmoRosError("the joint states lack the finger joints", ErrorCode.EXECUTION_FAILED)
        return float(sum(msg.position[index[n]] for n in FINGER_JOINTS))

    def _wait_joint_time(self, seconds: float, wall_timeout_s: float) -> JointState:
        """Wait until the joint states' stamps advanced by `seconds` (simulated or real time)."""
        start = _stamp_s(self._joint_state().header.stamp)
        deadline = time.monotonic() + wall_timeout_s
        with self._joint_event:
            while _stamp_s(self._joints.header.stamp) < start + seconds:
                if time.monotonic() > deadline:
                    raise MolmoRosError("the joint states stopped arriving", ErrorCode.EXECUTION_FAILED)
                self._joint_event.wait(0.1)
            return self._joints

    def _stop_arm(self) -> None:
        """Hold the arm where it is (a one-point trajectory at the current positions)."""
        try:
            msg = self._joint_state()
        except MolmoRosError:
            return
        index = {n: i for i, n in enumerate(msg.name)}
        names = [n for n in self.planner_joint_names() if n in index]
        hold = JointTrajectoryMsg(joint_names=names)
        hold.points.append(
            JointTrajectoryPoint(
                positions=[float(msg.position[index[n]]) for n in names], time_from_start=Duration()
            )
        )
        self._trajectory_pub.publish(hold)

    def planner_joint_names(self) -> list[str]:
        return [f"panda_joint{i}" for i in range(1, 8)]

    def _execute_trajectory(
        self, goal_handle: ServerGoalHandle, trajectory: JointTrajectory, p: dict[str, Any]
    ) -> None:
        if self._trajectory_pub.get_subscription_count() == 0:
            raise MolmoRosError(
                f"no controller listens on {p['trajectory_topic']}", ErrorCode.EXECUTION_FAILED
            )
        start = _stamp_s(self._joint_state().header.stamp)
        self._trajectory_pub.publish(to_trajectory_msg(trajectory))
        allowed = trajectory.duration * p["execution_timeout_factor"] + p["execution_timeout_margin_s"]
        goal = trajectory.positions[-1]
        names = trajectory.joint_names
        wall_deadline = time.monotonic() + 10.0 * allowed + 30.0
        while True:
            if goal_handle.is_cancel_requested:
                self._stop_arm()
                raise _Canceled("canceled while moving; the arm was stopped")
            with self._joint_event:
                self._joint_event.wait(0.05)
                msg = self._joints
            now = _stamp_s(msg.header.stamp)
            index = {n: i for i, n in enumerate(msg.name)}
            error = float(np.max(np.abs(np.array([msg.position[index[n]] for n in names]) - goal)))
            if now >= start + trajectory.duration and error < p["goal_tolerance_rad"]:
                return
            if now > start + allowed or time.monotonic() > wall_deadline:
                self._stop_arm()
                raise MolmoRosError(
                    f"the arm did not reach the end of a {trajectory.duration:.1f} s trajectory in "
                    f"{allowed:.1f} s (joint error {error:.3f} rad)",
                    ErrorCode.EXECUTION_FAILED,
                )


class OraclePointNode(Node):
    """Answers /molmo/point from the simulation's ground truth: the named object's centre, exactly.

    A point source behind the same service as the model, for evaluating grasping and planning alone.
    A query that names no object in the scene gets NOT_FOUND; several matching objects give several points.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(ORACLE_NODE_NAME, **kwargs)
        self._names = list(declare_from_config(self, "pick.yaml", ORACLE_DESCRIPTIONS, ORACLE_NODE_NAME))
        p = current_values(self, self._names)
        group = ReentrantCallbackGroup()
        self._state_client = self.create_client(GetSceneState, p["state_service"], callback_group=group)
        self.create_service(Point, p["service_name"], self._on_point, callback_group=group)

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
        done = threading.Event()
        future = self._state_client.call_async(GetSceneState.Request())
        future.add_done_callback(lambda _: done.set())
        if not done.wait(p["state_timeout_s"]):
            raise MolmoRosError("the simulation did not answer", ErrorCode.TIMEOUT)
        state = future.result()
        if request.target_frame and request.target_frame != state.frame_id:
            raise MolmoRosError(
                f"the oracle gives points in {state.frame_id!r} only, not {request.target_frame!r}",
                ErrorCode.TRANSFORM_FAILED,
            )
        labels = [f"{o.colour} {o.kind}" for o in state.objects]
        hits = match_labels(request.query, labels)
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
    return run_node(PickNode, args, threads=4)


if __name__ == "__main__":
    sys.exit(main())
