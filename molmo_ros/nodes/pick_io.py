"""The pick's I/O over ROS 2 (:class:`molmo_ros.planning.pick_task.PickIO` for one goal of the pick node).

Pointing is the ``/molmo/point`` service; the depth picture, CameraInfo and joint states come from the node's
subscriptions (:class:`SensorCache`); the camera pose from tf2 (or the ``static_transform`` parameter without
it); the gripper is a std_srvs/SetBool service; trajectories go to the arm controller's topic and are followed
on the joint states until they end. Waiting happens on the goal's thread; responses arrive on other callback
groups of the multi-threaded executor.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_srvs.srv import SetBool

from molmo_ros.conversions import image_to_numpy
from molmo_ros.conversions.stamps import stamp_seconds
from molmo_ros.conversions.trajectory import hold_msg, to_trajectory_msg
from molmo_ros.errors import ErrorCode, MolmoRosError
from molmo_ros.geometry import CameraIntrinsics, RigidTransform, depth_to_meters
from molmo_ros.nodes.transforms import lookup
from molmo_ros.planning.description import ARM_JOINTS, FINGER_JOINTS
from molmo_ros.planning.pick_task import CanceledError, DepthView
from molmo_ros.planning.planner import JointState as PlannerJointState
from molmo_ros.planning.trajectory import JointTrajectory
from molmo_ros_interfaces.srv import Point


def wait_for(future: Any, timeout_s: float, what: str, canceled: Any = None, poll_s: float = 0.05) -> Any:
    """The result of a service future; TIMEOUT after `timeout_s`, CANCELED when ``canceled()`` turns true."""
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    deadline = time.monotonic() + timeout_s
    while not done.wait(poll_s):
        if canceled is not None and canceled():
            future.cancel()
            raise CanceledError(f"canceled while waiting for {what}")
        if time.monotonic() > deadline:
            future.cancel()
            raise MolmoRosError(f"no answer from {what} within {timeout_s:g} s", ErrorCode.TIMEOUT)
    return future.result()


class SensorCache:
    """The newest depth image, CameraInfo and joint state, filled by subscription callbacks. `first_arrived`
    wakes the waiters for a stream's first message (not every camera frame); `joint_update` every joint
    state (the motion checks follow them)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.first_arrived = threading.Condition(self.lock)
        self.joint_update = threading.Condition(self.lock)
        self.depth: Image | None = None
        self.info: CameraInfo | None = None
        self.joints: JointState | None = None

    def _keep(self, name: str, msg: Any) -> None:
        with self.lock:
            first = getattr(self, name) is None
            setattr(self, name, msg)
            if first:
                self.first_arrived.notify_all()
            if name == "joints":
                self.joint_update.notify_all()

    def on_depth(self, msg: Image) -> None:
        self._keep("depth", msg)

    def on_info(self, msg: CameraInfo) -> None:
        self._keep("info", msg)

    def on_joints(self, msg: JointState) -> None:
        self._keep("joints", msg)

    def wait_for_camera(self, wait_s: float = 10.0) -> None:
        """Wait up to `wait_s` for the first depth image and CameraInfo (a goal right after start-up)."""
        with self.first_arrived:
            self.first_arrived.wait_for(lambda: self.depth is not None and self.info is not None, wait_s)

    def joint_msg(self, wait_s: float = 10.0) -> JointState:
        """The newest joint state; a goal sent right after start-up waits up to `wait_s` for the first."""
        with self.first_arrived:
            if self.joints is None:
                self.first_arrived.wait_for(lambda: self.joints is not None, timeout=wait_s)
            if self.joints is None:
                raise MolmoRosError(
                    f"no joint states received in {wait_s:g} s: is the robot (or the simulation) running?",
                    ErrorCode.EXECUTION_FAILED,
                )
            return self.joints


class RosPickIO:
    """One goal's I/O (see the module docstring). `p`: the node's parameter values when the goal arrived."""

    def __init__(
        self, node: Node, goal_handle: Any, p: dict[str, Any], sensors: SensorCache, clients: Any
    ) -> None:
        self.node, self.goal, self.p, self.sensors = node, goal_handle, p, sensors
        self.point_client, self.gripper_client, self.trajectory_pub, self.tf_buffer = clients
        self._frame: tuple[Image | None, CameraInfo | None] = (None, None)

    def _canceled(self) -> bool:
        return bool(self.goal.is_cancel_requested)

    def report(self, stage: str, detail: str, progress: Any = None) -> None:
        """Feedback of the goal's action: Pick's, or with `progress` (pick_place_goal.Progress) PickPlace's."""
        from molmo_ros_interfaces.action import Pick, PickPlace

        if self._canceled():
            raise CanceledError(f"canceled before {stage}")
        if progress is None:
            feedback = Pick.Feedback(stage=stage, detail=detail)
        else:
            feedback = PickPlace.Feedback(
                stage=stage,
                detail=detail,
                object_index=progress.index,
                objects_remaining=progress.remaining,
                attempt=progress.attempt,
            )
        self.goal.publish_feedback(feedback)

    def points(self, query: str) -> list[np.ndarray]:
        service = self.p["point_service"]
        if not self.point_client.wait_for_service(timeout_sec=2.0):
            raise MolmoRosError(f"the point service {service} is not available", ErrorCode.MODEL_UNAVAILABLE)
        request = Point.Request(query=query, target_frame=self.p["planning_frame"])
        response = wait_for(
            self.point_client.call_async(request), self.p["point_timeout_s"], service, self._canceled
        )
        self.sensors.wait_for_camera()
        with self.sensors.lock:
            self._frame = (self.sensors.depth, self.sensors.info)
        if not response.success:
            raise MolmoRosError(
                response.error.message or "the point service failed", ErrorCode(response.error.code)
            )
        if not response.points:
            raise MolmoRosError(f"no point for {query!r}", ErrorCode.NOT_FOUND)
        valid = [p for p, ok in zip(response.points, response.depth_valid, strict=False) if ok]
        if not valid:
            raise MolmoRosError(f"no valid depth at the point found for {query!r}", ErrorCode.NO_DEPTH)
        return [np.array([p.point.x, p.point.y, p.point.z]) for p in valid]

    def depth_view(self) -> DepthView:
        depth_msg, info_msg = self._frame
        if depth_msg is None or info_msg is None:
            raise MolmoRosError(
                f"no depth image or camera info received on {self.p['depth_topic']} / "
                f"{self.p['camera_info_topic']}",
                ErrorCode.NO_DEPTH,
            )
        depth = depth_to_meters(image_to_numpy(depth_msg), depth_msg.encoding)
        return DepthView(
            depth,
            CameraIntrinsics.from_camera_info(info_msg),
            self._camera_to_base(depth_msg.header.frame_id),
        )

    def _camera_to_base(self, frame_id: str) -> RigidTransform:
        base = self.p["planning_frame"]
        if self.tf_buffer is not None:
            return lookup(self.tf_buffer, base, frame_id, 0, 0.5)
        xyzq = self.p["static_transform"]
        return RigidTransform.from_xyz_quat(xyzq[:3], xyzq[3:], base, frame_id or "camera")

    def joint_state(self) -> PlannerJointState:
        msg = self.sensors.joint_msg()
        return PlannerJointState(tuple(msg.name), np.array(msg.position, dtype=float))

    def gripper(self, close: bool) -> None:
        service = self.p["gripper_service"]
        if not self.gripper_client.wait_for_service(timeout_sec=2.0):
            raise MolmoRosError(f"the gripper service {service} is not available", ErrorCode.EXECUTION_FAILED)
        response = wait_for(self.gripper_client.call_async(SetBool.Request(data=close)), 10.0, service)
        if not response.success:
            raise MolmoRosError(f"the gripper refused: {response.message}", ErrorCode.EXECUTION_FAILED)
        # Wait (on the joint states' clock: simulated or real) for the fingers to come to rest.
        settle = float(self.p["gripper_settle_s"])
        start = stamp_seconds(self.sensors.joint_msg().header.stamp)
        deadline = time.monotonic() + 10.0 + 5.0 * settle
        with self.sensors.joint_update:
            while stamp_seconds(self.sensors.joints.header.stamp) < start + settle:
                if time.monotonic() > deadline:
                    raise MolmoRosError("the joint states stopped arriving", ErrorCode.EXECUTION_FAILED)
                self.sensors.joint_update.wait(0.1)

    def finger_width(self) -> float:
        msg = self.sensors.joint_msg()
        index = {n: i for i, n in enumerate(msg.name)}
        if not all(n in index for n in FINGER_JOINTS):
            raise MolmoRosError("the joint states lack the finger joints", ErrorCode.EXECUTION_FAILED)
        return float(sum(msg.position[index[n]] for n in FINGER_JOINTS))

    def stop_arm(self) -> None:
        """Hold the arm where it is (a one-point trajectory at the current positions)."""
        try:
            msg = self.sensors.joint_msg()
        except MolmoRosError:
            return
        index = {n: i for i, n in enumerate(msg.name)}
        names = [n for n in ARM_JOINTS if n in index]
        self.trajectory_pub.publish(hold_msg(names, [float(msg.position[index[n]]) for n in names]))

    def execute(self, trajectory: JointTrajectory) -> None:
        p = self.p
        if self.trajectory_pub.get_subscription_count() == 0:
            raise MolmoRosError(
                f"no controller listens on {p['trajectory_topic']}", ErrorCode.EXECUTION_FAILED
            )
        start = stamp_seconds(self.sensors.joint_msg().header.stamp)
        self.trajectory_pub.publish(to_trajectory_msg(trajectory))
        allowed = trajectory.duration * p["execution_timeout_factor"] + p["execution_timeout_margin_s"]
        goal, names = trajectory.positions[-1], trajectory.joint_names
        wall_deadline = time.monotonic() + 10.0 * allowed + 30.0
        while True:
            if self._canceled():
                self.stop_arm()
                raise CanceledError("canceled while moving; the arm was stopped")
            with self.sensors.joint_update:
                self.sensors.joint_update.wait(0.05)
                msg = self.sensors.joints
            now = stamp_seconds(msg.header.stamp)
            index = {n: i for i, n in enumerate(msg.name)}
            error = float(np.max(np.abs(np.array([msg.position[index[n]] for n in names]) - goal)))
            if now >= start + trajectory.duration and error < p["goal_tolerance_rad"]:
                return
            if now > start + allowed or time.monotonic() > wall_deadline:
                self.stop_arm()
                raise MolmoRosError(
                    f"the arm did not reach the end of a {trajectory.duration:.1f} s trajectory in "
                    f"{allowed:.1f} s (joint error {error:.3f} rad)",
                    ErrorCode.EXECUTION_FAILED,
                )
