"""The simulation bridge node for real: rclpy, DDS topics and services, MuJoCo behind them."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
from builtin_interfaces.msg import Duration
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from molmo_ros.conversions import image_to_numpy
from molmo_ros.conversions.stamps import stamp_seconds
from molmo_ros.geometry import CameraIntrinsics
from molmo_ros.geometry.deproject import deproject, project
from molmo_ros.geometry.transforms import RigidTransform
from molmo_ros.nodes.sim import SimBridgeNode
from molmo_ros.sim.config import load_sim_config
from molmo_ros_interfaces.srv import GetSceneState, ResetScene
from support.ros import call, wait_for

pytestmark = pytest.mark.ros

CONFIG = load_sim_config()
W, H, RATE = 160, 120, 10.0


class Recorder:
    """Keeps every message of a topic (thread-safe)."""

    def __init__(self, node, msg_type, topic):
        self.messages: list = []
        self._lock = threading.Lock()
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        node.create_subscription(msg_type, topic, self._add, qos)

    def _add(self, msg) -> None:
        with self._lock:
            self.messages.append(msg)

    def snapshot(self) -> list:
        with self._lock:
            return list(self.messages)


@pytest.fixture(scope="module")
def bridge(ros_module_context, spinner, tmp_path_factory):
    node = SimBridgeNode(
        context=ros_module_context,
        parameter_overrides=[
            Parameter("image_width", value=W),
            Parameter("image_height", value=H),
            Parameter("camera_rate", value=RATE),
            Parameter("real_time_factor", value=0.0),  # as fast as possible: every frame still rendered
            Parameter("cache_dir", value=str(tmp_path_factory.mktemp("sim_cache"))),
        ],
    )
    spinner.add(node)
    yield node
    spinner.executor.remove_node(node)


@pytest.fixture(scope="module")
def client(ros_module_context, spinner, bridge):
    import rclpy

    node = spinner.add(rclpy.create_node("sim_test_client", context=ros_module_context))
    topics = {
        "color": Recorder(node, Image, CONFIG.color_topic),
        "depth": Recorder(node, Image, CONFIG.depth_topic),
        "info": Recorder(node, CameraInfo, CONFIG.camera_info_topic),
        "joints": Recorder(node, JointState, CONFIG.joint_states_topic),
        "clock": Recorder(node, Clock, CONFIG.clock_topic),
    }
    yield node, topics
    spinner.executor.remove_node(node)


def test_all_topics_publish_with_consistent_stamps_and_frames(client):
    _, topics = client

    def complete() -> list[float]:
        """Stamps received on all three camera topics (each subscription may have matched at another time)."""
        sets = [
            {stamp_seconds(m.header.stamp) for m in topics[k].snapshot()} for k in ("color", "depth", "info")
        ]
        return sorted(set.intersection(*sets))

    wait_for(lambda: len(complete()) >= 5, 60.0, "five complete camera frames")
    stamps = complete()[:5]
    colors, depths, infos = (
        {stamp_seconds(m.header.stamp): m for m in topics[k].snapshot()} for k in ("color", "depth", "info")
    )
    for t in stamps:
        color, depth, info = colors[t], depths[t], infos[t]  # the same instant on all three
        assert color.header.frame_id == depth.header.frame_id == info.header.frame_id == CONFIG.camera_frame
        assert (color.encoding, depth.encoding) == ("rgb8", CONFIG.depth_encoding)
        assert (color.width, color.height, info.width, info.height) == (W, H, W, H)
        rgb, z = image_to_numpy(color), image_to_numpy(depth)
        assert rgb.shape == (H, W, 3) and rgb.std() > 5
        assert np.isfinite(z).mean() > 0.9 and 0.3 < np.nanmedian(z[np.isfinite(z)]) < 3.0
    # Frames come at the camera rate on the simulated clock (none is dropped when not running in real time).
    np.testing.assert_allclose(np.diff(stamps), 1.0 / RATE, atol=0.003)
    joints = topics["joints"].snapshot()
    assert joints and list(joints[-1].name) == [
        *(f"panda_joint{i}" for i in range(1, 8)),
        "panda_finger_joint1",
        "panda_finger_joint2",
    ]
    clock = [stamp_seconds(m.clock) for m in topics["clock"].snapshot()]
    assert len(clock) > 10 and all(b >= a for a, b in itertools.pairwise(clock))
    # Joint states are stamped with the simulated time /clock announces at the same step.
    ticks = set(clock)
    joint_stamps = [stamp_seconds(m.header.stamp) for m in joints]
    overlap = [t for t in joint_stamps if min(clock) <= t <= max(clock)]
    assert overlap and all(t in ticks for t in overlap)


def test_camera_info_and_depth_lift_pixels_onto_the_ground_truth_objects(client):
    node, topics = client
    state = call(node.create_client(GetSceneState, CONFIG.state_service), GetSceneState.Request())
    assert state.success and state.frame_id == CONFIG.world_frame and len(state.objects) >= 2
    info = topics["info"].snapshot()[-1]
    depth = image_to_numpy(
        next(m for m in reversed(topics["depth"].snapshot()) if m.header.stamp == info.header.stamp)
    )
    intrinsics = CameraIntrinsics.from_camera_info(info)
    pose = state.camera_pose
    camera = RigidTransform.from_xyz_quat(
        [pose.position.x, pose.position.y, pose.position.z],
        [pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w],
        state.frame_id,
        info.header.frame_id,
    )
    lifted_onto = 0
    for obj in state.objects:
        centre = np.array([obj.pose.position.x, obj.pose.position.y, obj.pose.position.z])
        u, v = project(intrinsics, camera.inverse().apply(centre))
        assert obj.in_image and (obj.pixel_x, obj.pixel_y) == pytest.approx((u, v), abs=1e-6)
        z = float(depth[round(v), round(u)])
        point = camera.apply(deproject(intrinsics, round(u), round(v), z))
        extents = np.array([obj.extents.x, obj.extents.y, obj.extents.z])
        if np.linalg.norm(point - centre) < 0.5 * np.linalg.norm(extents) + 0.015:
            lifted_onto += 1
    # At 160x120 a small object can hide behind another; most must be hit.
    assert lifted_onto >= len(state.objects) - 1


def _latest_joints(topics) -> np.ndarray:
    return np.array(topics["joints"].snapshot()[-1].position)


def test_trajectory_topic_moves_the_arm_to_its_final_positions(client):
    node, topics = client
    start = _latest_joints(topics)[:7]
    goal = start + np.array([0.3, 0.2, 0.0, 0.2, 0.0, -0.2, 0.3])
    msg = JointTrajectory(joint_names=[f"panda_joint{i}" for i in range(1, 8)])
    msg.points = [JointTrajectoryPoint(positions=goal.tolist(), time_from_start=Duration(sec=1))]
    node.create_publisher(JointTrajectory, CONFIG.trajectory_topic, 10).publish(msg)
    wait_for(lambda: np.allclose(_latest_joints(topics)[:7], goal, atol=3e-3), 60.0, "the arm at its goal")


def test_gripper_service_closes_and_opens(client):
    node, topics = client
    gripper = node.create_client(SetBool, CONFIG.gripper_service)
    assert call(gripper, SetBool.Request(data=True)).success
    wait_for(lambda: _latest_joints(topics)[7:].sum() < 0.005, 60.0, "a closed gripper")
    assert call(gripper, SetBool.Request(data=False)).success
    wait_for(lambda: _latest_joints(topics)[7:].sum() > 0.075, 60.0, "an open gripper")


def test_reset_is_reproducible_and_the_clock_never_goes_back(client):
    node, topics = client
    reset = node.create_client(ResetScene, CONFIG.reset_service)
    first = call(reset, ResetScene.Request(seed=21, num_objects=4))
    before = stamp_seconds(topics["clock"].snapshot()[-1].clock)
    second = call(reset, ResetScene.Request(seed=21, num_objects=4))
    assert first.success and second.success and len(first.objects) == 4
    assert [o.name for o in first.objects] == [o.name for o in second.objects]
    for a, b in zip(first.objects, second.objects, strict=True):
        assert (a.pose.position.x, a.pose.position.y) == pytest.approx(
            (b.pose.position.x, b.pose.position.y), abs=1e-6
        )
    wait_for(
        lambda: stamp_seconds(topics["clock"].snapshot()[-1].clock) > before + 0.2,
        60.0,
        "the clock moving on",
    )
    clock = [stamp_seconds(m.clock) for m in topics["clock"].snapshot()]
    assert all(b >= a for a, b in itertools.pairwise(clock))
    state = call(node.create_client(GetSceneState, CONFIG.state_service), GetSceneState.Request())
    assert state.seed == 21 and [o.name for o in state.objects] == [o.name for o in first.objects]
    assert state.grasped == "" and not any(o.lifted for o in state.objects)


def test_invalid_parameters_are_rejected(bridge):
    result = bridge.set_parameters([Parameter("timestep", value=0.01)])[0]
    assert not result.successful and "500 Hz" in result.reason
    assert bridge.set_parameters([Parameter("camera_rate", value=12.0)])[0].successful
    bridge.set_parameters([Parameter("camera_rate", value=RATE)])


def test_a_lower_camera_rate_while_the_arm_moves_renders_fewer_frames_then(client, bridge):
    node, topics = client

    def clock() -> float:
        c = topics["clock"].snapshot()[-1].clock
        return c.sec + 1e-9 * c.nanosec

    wait_for(lambda: topics["joints"].snapshot() and topics["clock"].snapshot(), 30.0, "joint states")
    assert bridge.set_parameters([Parameter("camera_rate_moving", value=RATE / 4)])[0].successful
    try:
        start = _latest_joints(topics)[:7]
        goal = start + np.array([0.2, -0.2, 0.0, -0.2, 0.0, 0.2, -0.2])
        msg = JointTrajectory(joint_names=[f"panda_joint{i}" for i in range(1, 8)])
        msg.points = [JointTrajectoryPoint(positions=goal.tolist(), time_from_start=Duration(sec=2))]
        t0 = clock()  # the motion runs from about now for 2 s of simulated time
        node.create_publisher(JointTrajectory, CONFIG.trajectory_topic, 10).publish(msg)
        wait_for(lambda: clock() > t0 + 3.5, 60.0, "the motion and a second at rest")
    finally:
        bridge.set_parameters([Parameter("camera_rate_moving", value=0.0)])
    assert np.allclose(_latest_joints(topics)[:7], goal, atol=3e-3)
    stamps = np.array(
        [m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec for m in topics["color"].snapshot()]
    )
    moving = np.diff(stamps[(stamps > t0 + 0.4) & (stamps < t0 + 1.8)])
    resting = np.diff(stamps[(stamps > t0 + 2.4) & (stamps < t0 + 3.4)])
    assert np.median(moving) == pytest.approx(4 / RATE, rel=0.1), moving
    assert np.median(resting) == pytest.approx(1 / RATE, rel=0.1), resting
