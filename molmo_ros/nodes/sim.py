"""The simulation bridge node: the MuJoCo tabletop (molmo_ros.sim) on ROS 2 topics and services.

Publishes the camera (colour rgb8, depth 32FC1 m or 16UC1 mm, CameraInfo, all with the same stamp and optical
frame id), ``/joint_states`` and ``/clock`` (simulated time; run other nodes with ``use_sim_time:=true``).
Executes ``trajectory_msgs/JointTrajectory`` on the arm controller's topic; the gripper is a
``std_srvs/SetBool`` service (true: close with the configured force limit, false: open); ResetScene and
GetSceneState services rebuild the scene from a seed and return its ground truth.

Threads: physics steps in one callback group, rendering in another (each frame is rendered from a copy of
the state, so the physics never waits for the slow CPU renderer in real-time mode), services and commands in
a third; all share one lock around the simulator. Simulated time never jumps back: a reset continues the
clock where the previous scene stopped.

With tf2_ros (a ROS distribution) the camera's mounting goes on ``/tf_static``; the arm's links come from
robot_state_publisher, which ``pick.launch.py`` starts beside this node where it is installed.

Parameters and their defaults: config/sim.yaml (section ``sim_bridge``). Scene parameters (seed, sizes,
camera, physics) take effect at the next reset; rates and the real-time factor at once; names at start.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import mujoco
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Header
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg

from molmo_ros.capabilities import has_module
from molmo_ros.conversions import numpy_to_image
from molmo_ros.conversions.scene import camera_info_msg, to_pose, to_scene_object, transform_stamped_msg
from molmo_ros.conversions.stamps import stamp_seconds, time_from_seconds
from molmo_ros.conversions.trajectory import from_trajectory_msg
from molmo_ros.errors import ErrorCode, MolmoRosError
from molmo_ros.nodes.parameters import current_values, declare_from_config, validating_callback
from molmo_ros.nodes.runner import run_node
from molmo_ros.nodes.sim_parameters import DESCRIPTIONS, validate_parameters
from molmo_ros.sim.camera import CameraRenderer, encode_depth
from molmo_ros.sim.config import SimConfig, from_parameters
from molmo_ros.sim.errors import SceneError
from molmo_ros.sim.pacing import PublicationSchedule, RealTimePacer
from molmo_ros.sim.simulator import Simulator
from molmo_ros_interfaces.srv import GetSceneState, ResetScene

NODE_NAME = "sim_bridge"

# Wall-clock period of the physics and camera timers (s): short enough for smooth real-time stepping,
# long enough that rclpy's per-callback overhead stays small.
_PHYSICS_PERIOD = 0.004
_CAMERA_POLL_PERIOD = 0.004


@dataclass
class _PendingFrame:
    """A state copy waiting to be rendered: the renderer of its scene, the copy, its stamp (ROS time, s)."""

    camera: CameraRenderer
    data: mujoco.MjData
    stamp: float


class SimBridgeNode(Node):
    """The MuJoCo tabletop on ROS 2 (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._names = list(declare_from_config(self, "sim.yaml", DESCRIPTIONS, NODE_NAME))
        self.add_on_set_parameters_callback(validating_callback(self, validate_parameters))
        config = self._config()
        self._lock = threading.Lock()
        self.sim = Simulator(config)
        # ROS time of the current scene's t = 0: resets continue the clock instead of jumping back.
        self._time_offset = 0.0
        self._pending: _PendingFrame | None = None
        self._schedule = PublicationSchedule()
        self._pacer = RealTimePacer()
        self.frames_published = 0

        wall = Clock(clock_type=ClockType.STEADY_TIME)  # timers pace on wall time, never on /clock
        physics, camera, commands = (MutuallyExclusiveCallbackGroup() for _ in range(3))
        reliable = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
        self._color_pub = self.create_publisher(Image, config.color_topic, reliable)
        self._depth_pub = self.create_publisher(Image, config.depth_topic, reliable)
        self._info_pub = self.create_publisher(CameraInfo, config.camera_info_topic, reliable)
        self._joint_pub = self.create_publisher(JointState, config.joint_states_topic, 10)
        self._clock_pub = self.create_publisher(ClockMsg, config.clock_topic, 10)
        self.create_subscription(
            JointTrajectoryMsg, config.trajectory_topic, self._on_trajectory, 10, callback_group=commands
        )
        self.create_service(SetBool, config.gripper_service, self._on_gripper, callback_group=commands)
        self.create_service(ResetScene, config.reset_service, self._on_reset, callback_group=commands)
        self.create_service(GetSceneState, config.state_service, self._on_state, callback_group=commands)
        self.create_timer(_PHYSICS_PERIOD, self._on_physics, callback_group=physics, clock=wall)
        self.create_timer(_CAMERA_POLL_PERIOD, self._on_camera, callback_group=camera, clock=wall)
        self._static_tf = None
        if has_module("tf2_ros"):  # a ROS distribution: the camera's mounting on /tf_static
            import tf2_ros

            self._static_tf = tf2_ros.StaticTransformBroadcaster(self)
            self._publish_camera_mount()
        self.get_logger().info(
            f"simulating seed {config.seed} ({', '.join(self.sim.layout.names())}); camera "
            f"{config.image_width}x{config.image_height} at {config.camera_rate:g} Hz on {config.color_topic}"
        )

    # ----------------------------------------------------------------------------------------- helpers
    def _publish_camera_mount(self) -> None:
        """The camera's optical frame in the world frame on /tf_static (again after a reset: it may move)."""
        if self._static_tf is not None:
            self._static_tf.sendTransform(transform_stamped_msg(self.sim.camera_pose, time_from_seconds(0.0)))

    def _config(self, **overrides: Any) -> SimConfig:
        values = current_values(self, self._names)
        values.update(overrides)
        return from_parameters(values)

    def _param(self, name: str) -> Any:
        return self.get_parameter(name).value

    @property
    def ros_time(self) -> float:
        """Simulated time on the ROS clock (s): the scene's time plus the offset of earlier scenes."""
        return self._time_offset + self.sim.time

    def _header(self, stamp: float, frame_id: str) -> Header:
        return Header(stamp=time_from_seconds(stamp), frame_id=frame_id)

    # ----------------------------------------------------------------------------------------- physics
    def _on_physics(self) -> None:
        if not self.context.ok():
            return  # shutting down (Ctrl-C): publishing would fail
        with self._lock:
            rtf = float(self._param("real_time_factor"))
            goal = self._pacer.goal(time.monotonic(), self.ros_time, rtf)
            while self.ros_time + 0.5 * self.sim.timestep < goal:
                if rtf == 0.0 and self._pending is not None:
                    break  # as fast as possible, but every camera frame gets rendered: wait for the renderer
                self.sim.step()
                self._publish_due()

    def _publish_due(self) -> None:
        """After a step: joint states and clock, and a camera snapshot, when their (simulated) time has come."""
        now = self.ros_time
        if self._schedule.joint_state_due(now, lambda: float(self._param("joint_state_rate"))):
            self._publish_joint_state(now)
        if self._schedule.camera_due(now, self._camera_rate):
            # Latest frame wins: in real time an unrendered older frame is dropped rather than queued.
            assert self.sim.camera is not None
            self._pending = _PendingFrame(self.sim.camera, self.sim.snapshot(), now)

    def _camera_rate(self) -> float:
        """Frames a second now (Hz): while the arm moves nobody points, so a lower rate (if set) saves renders."""
        moving = float(self._param("camera_rate_moving"))
        return moving if moving > 0.0 and self.sim.trajectory_active else float(self._param("camera_rate"))

    def _publish_joint_state(self, now: float) -> None:
        msg = JointState(header=self._header(now, ""), name=list(self.sim.joint_names))
        msg.position = self.sim.joint_positions().tolist()
        msg.velocity = self.sim.joint_velocities().tolist()
        msg.effort = self.sim.joint_efforts().tolist()
        self._joint_pub.publish(msg)
        self._clock_pub.publish(ClockMsg(clock=time_from_seconds(now)))

    # ----------------------------------------------------------------------------------------- camera
    def _on_camera(self) -> None:
        if not self.context.ok():
            return
        with self._lock:
            pending, self._pending = self._pending, None
            if pending is None:
                return
            frame_id = str(self._param("camera_frame"))
            encoding = str(self._param("depth_encoding"))
            intrinsics = self.sim.intrinsics if pending.camera is self.sim.camera else None
        if intrinsics is None:
            return  # the scene was reset while this frame waited
        # Rendering happens outside the lock, on the copy: the physics keeps stepping meanwhile.
        try:
            frame = pending.camera.render(pending.data, rgb=True, depth=True)
        except SceneError:
            return  # the scene was reset during the rendering

        header = self._header(pending.stamp, frame_id)
        self._color_pub.publish(numpy_to_image(frame.rgb, "rgb8", msg_factory=Image, header=header))
        depth = encode_depth(frame.depth, encoding)
        self._depth_pub.publish(numpy_to_image(depth, encoding, msg_factory=Image, header=header))
        self._info_pub.publish(camera_info_msg(intrinsics, header))
        self.frames_published += 1

    # ----------------------------------------------------------------------------------------- commands
    def _on_trajectory(self, msg: JointTrajectoryMsg) -> None:
        stamp = stamp_seconds(msg.header.stamp)
        try:
            trajectory = from_trajectory_msg(msg)
            with self._lock:
                # A zero stamp means "now" (as in ros2_control); otherwise the stamp is on the simulated clock.
                start = None if stamp == 0.0 else stamp - self._time_offset
                self.sim.follow(trajectory, start)
        except (MolmoRosError, ValueError) as exc:
            self.get_logger().error(f"rejected joint trajectory: {exc}")

    def _on_gripper(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        with self._lock:
            self.sim.set_gripper(bool(request.data), float(self._param("gripper_force")))
        response.success = True
        response.message = "closing" if request.data else "opening"
        return response

    def _on_reset(self, request: ResetScene.Request, response: ResetScene.Response) -> ResetScene.Response:
        try:
            config = self._config(seed=int(request.seed))
            with self._lock:
                offset = self.ros_time
                if request.num_objects:
                    config = config.replace(num_objects=int(request.num_objects))
                sim = Simulator(config)
                self.sim.close()
                self.sim = sim
                self._publish_camera_mount()
                # The new scene's settling time is not shown: its t = settle_time continues the old clock.
                self._time_offset = offset - sim.time
                self._pending = None
                self._pacer.reset()
                self._schedule.restart(self.ros_time)
                response.objects = [to_scene_object(s) for s in sim.object_states()]
            response.success = True
            self.get_logger().info(f"scene reset to seed {request.seed}: {', '.join(sim.layout.names())}")
        except MolmoRosError as exc:
            response.success = False
            response.error.code, response.error.message = int(exc.code), str(exc)
        except Exception as exc:
            response.success = False
            response.error.code, response.error.message = int(ErrorCode.INVALID_REQUEST), repr(exc)
        return response

    def _on_state(
        self, request: GetSceneState.Request, response: GetSceneState.Response
    ) -> GetSceneState.Response:
        with self._lock:
            state = self.sim.scene_state()
            response.stamp = time_from_seconds(self.ros_time)
        response.success = True
        response.seed = int(state.seed) if state.seed is not None else -1
        response.frame_id = state.camera_pose.parent_frame
        response.objects = [to_scene_object(o) for o in state.objects]
        response.grasped = state.grasped or ""
        translation, quat = state.camera_pose.as_xyz_quat()
        response.camera_pose = to_pose(translation, quat)
        return response

    def destroy_node(self) -> None:
        self.sim.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(SimBridgeNode, args, threads=4)


if __name__ == "__main__":
    sys.exit(main())
