"""Trajectory following, the gripper and a scripted top-down pick with the planner's IK (the robot model
the planner plans with drives the simulated Panda to the same tool pose)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from molmo_ros.planning.grasp import grasp_points, top_down_rotation
from molmo_ros.planning.robot_model import RobotModel
from molmo_ros.planning.trajectory import JointTrajectory
from molmo_ros.sim import robot
from molmo_ros.sim.errors import SimError, TrajectoryError
from molmo_ros.sim.layout import SceneLayout, place_object
from molmo_ros.sim.simulator import Simulator
from molmo_ros.sim.trajectory import TrajectoryFollower

ARM = robot.ARM_JOINTS


@pytest.fixture(scope="module")
def arm_model() -> RobotModel:
    return RobotModel("arm")


def solve_ik(model: RobotModel, sim: Simulator, position, rotation: Rotation, q_arm: np.ndarray):
    """The arm's joint positions (7,) putting the tool at the pose, from `q_arm`; None when unreachable."""
    q = model.full_configuration(ARM, q_arm)
    solution = model.solve_ik(q, np.asarray(position, float), rotation)
    return None if solution is None else solution[model.q_index]


def test_follower_interpolates_linearly_and_from_the_current_position():
    follower = TrajectoryFollower(["a", "b"])
    follower.start(JointTrajectory(("b",), [1.0, 2.0], [[1.0], [3.0]]), np.array([5.0, 0.0]), 10.0, 10.0)
    np.testing.assert_allclose(follower.reference(10.5), [5.0, 0.5])  # from the current 0 towards 1
    np.testing.assert_allclose(follower.reference(11.5), [5.0, 2.0])
    np.testing.assert_allclose(follower.reference(99.0), [5.0, 3.0])  # holds the last point
    assert follower.active(11.9) and not follower.active(12.0)


def test_follower_uses_velocities_and_a_future_start():
    follower = TrajectoryFollower(["a"])
    traj = JointTrajectory(("a",), [0.0, 1.0], [[0.0], [1.0]], velocities=[[0.0], [0.0]])
    follower.start(traj, np.array([0.0]), start_time=5.0, now=1.0)
    np.testing.assert_allclose(follower.reference(3.0), [0.0])  # waits for its stamp
    # Cubic Hermite with zero end velocities: smoothstep, 0.5 at the middle, 0.15625 at a quarter.
    np.testing.assert_allclose(follower.reference(5.5), [0.5])
    np.testing.assert_allclose(follower.reference(5.25), [0.15625])


@pytest.mark.parametrize(
    ("names", "times", "positions", "match"),
    [
        (("a",), [1.0, 1.0], [[0.0], [1.0]], "strictly increasing"),
        (("a",), [1.0], [[0.0, 1.0]], "positions must be"),
        (("a", "a"), [1.0], [[0.0, 1.0]], "repeat"),
        (("a",), [], np.zeros((0, 1)), "no points"),
    ],
)
def test_bad_trajectories_are_rejected(names, times, positions, match):
    with pytest.raises(TrajectoryError, match=match):
        JointTrajectory(names, times, positions)


def test_unknown_joints_are_rejected():
    with pytest.raises(TrajectoryError, match="unknown joints"):
        TrajectoryFollower(ARM).start(JointTrajectory(("elbow",), [1.0], [[0.0]]), np.zeros(7), 0.0, 0.0)


@pytest.fixture
def block_sim(sim_config):
    layout = SceneLayout(None, (place_object("block", "red", (0.5, 0.08), 0.35),))
    simulator = Simulator(sim_config, layout)
    yield simulator
    simulator.close()


def test_commanded_trajectory_reaches_its_final_joint_positions(block_sim):
    sim = block_sim
    start = sim.joint_positions()[:7]
    goal = start + np.array([0.4, 0.3, -0.3, 0.4, 0.5, -0.4, 0.6])
    middle = 0.5 * (start + goal) + 0.1
    sim.follow(JointTrajectory(ARM, [1.0, 2.0], [middle, goal]))
    sim.run(1.0)
    assert sim.trajectory_active
    # Tracking while moving: the reference is followed within a few hundredths of a radian.
    np.testing.assert_allclose(sim.joint_positions()[:7], middle, atol=0.03)
    sim.run_until_idle(timeout=3.0, settle=0.5)
    assert not sim.trajectory_active
    np.testing.assert_allclose(sim.joint_positions()[:7], goal, atol=2e-3)
    assert sim.warnings() == {}


def test_finger_joints_in_a_trajectory_are_refused(block_sim):
    with pytest.raises(SimError, match="gripper"):
        block_sim.follow(JointTrajectory(("panda_finger_joint1",), [1.0], [[0.0]]))


def test_gripper_opens_and_closes_empty(block_sim):
    sim = block_sim
    assert sim.gripper_opening == pytest.approx(0.08, abs=1e-3)
    sim.set_gripper(True)
    sim.run(1.0)
    assert sim.gripper_opening < 0.005
    sim.set_gripper(False)
    sim.run(1.0)
    assert sim.gripper_opening == pytest.approx(0.08, abs=1e-3)
    with pytest.raises(SimError, match="force"):
        sim.set_gripper(True, force=0.0)


def test_ik_reaches_a_pose_in_the_simulator_and_refuses_an_unreachable_one(block_sim, arm_model):
    sim = block_sim
    target = Rotation.from_euler("x", np.pi)
    q = solve_ik(arm_model, sim, [0.45, -0.1, 0.2], target, sim.joint_positions()[:7])
    assert q is not None
    _move(sim, q, 2.0)
    # The planner's tool frame is the simulator's TCP site: the same description, the same pose.
    position, rotation = sim.site_pose()
    np.testing.assert_allclose(position, [0.45, -0.1, 0.2], atol=3e-3)
    assert (Rotation.from_matrix(rotation) * target.inv()).magnitude() < 0.02
    assert solve_ik(arm_model, sim, [1.5, 0.0, 0.2], target, sim.joint_positions()[:7]) is None


def _move(sim: Simulator, q: np.ndarray, seconds: float) -> None:
    sim.follow(JointTrajectory(ARM, [seconds], [q]))
    sim.run_until_idle(timeout=seconds + 2.0, settle=0.3)


def test_scripted_grasp_lifts_the_block(block_sim, arm_model):
    sim = block_sim
    block = sim.scene_state().objects[0]
    hand = Rotation.from_matrix(sim.site_pose()[1])
    rotation = top_down_rotation(sim.layout.objects[0].yaw, hand)
    pre, grasp, lift = grasp_points(block.position, block.extents[2])
    q = sim.joint_positions()[:7]
    solutions = []
    for target in (pre, grasp, lift):
        q = solve_ik(arm_model, sim, target, rotation, q)
        assert q is not None
        solutions.append(q)
    _move(sim, solutions[0], 2.0)
    _move(sim, solutions[1], 1.5)
    np.testing.assert_allclose(sim.site_pose()[0], grasp, atol=5e-3)
    assert sim.grasped_object() is None
    sim.set_gripper(True)
    sim.run(0.8)
    # Closed on the block, not on air: the fingers stop at its width.
    assert sim.gripper_opening == pytest.approx(block.extents[1], abs=4e-3)
    _move(sim, solutions[2], 1.5)
    state = sim.scene_state()
    held = state.object("red_block")
    assert held.height_above_rest >= 0.05
    assert held.touching_fingers == 2 and held.lifted and held.grasped
    assert state.grasped == "red_block"
    assert sim.warnings() == {}
