"""The embedded planner on the real Panda description (pinocchio + coal + OMPL + TOPP-RA)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from molmo_ros.errors import ErrorCode
from molmo_ros.planning.collision import CollisionWorld
from molmo_ros.planning.embedded import EmbeddedPlanner
from molmo_ros.planning.perception import Box
from molmo_ros.planning.planner import JointState, Motion, PlanningScene, PoseWaypoint
from molmo_ros.sim.robot import FINGER_OPEN, HOME_ARM
from molmo_ros.sim.simulator import JOINT_NAMES

DOWN = Rotation.from_euler("x", math.pi)
START = JointState(JOINT_NAMES, np.array([*HOME_ARM, FINGER_OPEN, FINGER_OPEN]))


@pytest.fixture(scope="module")
def planner() -> EmbeddedPlanner:
    return EmbeddedPlanner()


def tool_at(planner: EmbeddedPlanner, arm: np.ndarray) -> tuple[np.ndarray, Rotation]:
    q = planner.robot.full_configuration(START.names, START.positions)
    return planner.robot.tool_pose(planner.robot.with_arm(q, arm))


def test_reaches_a_reachable_pose_within_the_limits(planner):
    target = np.array([0.5, 0.15, 0.12])
    result = planner.plan(START, [PoseWaypoint(target, DOWN, Motion.FREE, name="goal")], PlanningScene())
    assert result.ok, result.error
    trajectory = result.trajectory
    position, rotation = tool_at(planner, trajectory.positions[-1])
    assert np.linalg.norm(position - target) < 1e-3
    assert (rotation * DOWN.inv()).magnitude() < 1e-2
    assert np.allclose(trajectory.positions[0], HOME_ARM, atol=1e-6)
    assert np.all(np.diff(trajectory.times) > 0)
    assert np.all(np.abs(trajectory.velocities) <= planner.limits.velocity * 1.01 + 1e-9)
    assert np.all(trajectory.positions >= planner.robot.lower) and np.all(
        trajectory.positions <= planner.robot.upper
    )
    assert np.allclose(trajectory.velocities[-1], 0.0)


def test_straight_lines_stay_straight(planner):
    above, below = np.array([0.55, -0.1, 0.2]), np.array([0.55, -0.1, 0.06])
    result = planner.plan(
        START,
        [
            PoseWaypoint(above, DOWN, Motion.FREE, name="above"),
            PoseWaypoint(below, DOWN, Motion.LINEAR, name="down"),
        ],
        PlanningScene(),
    )
    assert result.ok, result.error
    # Every point after the tool passed below 19 cm lies on the vertical line (the descent).
    for arm in result.trajectory.positions:
        position, _ = tool_at(planner, arm)
        if position[2] < 0.19:
            assert np.linalg.norm(position[:2] - below[:2]) < 5e-3


def test_refuses_a_pose_out_of_reach(planner):
    result = planner.plan(START, [PoseWaypoint(np.array([1.3, 0.0, 0.2]), DOWN, name="far")], PlanningScene())
    assert not result.ok
    assert result.error.code == ErrorCode.UNREACHABLE
    assert "far" in str(result.error)


def test_refuses_a_pose_inside_the_table(planner):
    result = planner.plan(
        START, [PoseWaypoint(np.array([0.5, 0.0, -0.03]), DOWN, name="under")], PlanningScene()
    )
    assert not result.ok
    assert result.error.code == ErrorCode.UNREACHABLE
    assert "collision" in str(result.error) and "table" in str(result.error)


def test_avoids_the_table_and_a_wall_between_start_and_goal(planner):
    start_target, goal_target = np.array([0.5, 0.3, 0.1]), np.array([0.5, -0.3, 0.1])
    first = planner.plan(START, [PoseWaypoint(start_target, DOWN, name="left")], PlanningScene())
    assert first.ok, first.error
    wall = Box("wall", np.array([0.5, 0.0, 0.15]), np.array([0.2, 0.02, 0.15]))
    scene = PlanningScene([wall])
    result = planner.plan(first.end_state, [PoseWaypoint(goal_target, DOWN, name="right")], scene, seed=3)
    assert result.ok, result.error
    world = CollisionWorld(
        planner.robot, scene, planner.settings.collision_padding, planner.settings.table_padding
    )
    q = planner.robot.full_configuration(START.names, START.positions)
    arm_start, arm_goal = result.trajectory.positions[0], result.trajectory.positions[-1]
    # The straight joint-space line hits the wall (or the table): the planner had to go around ...
    assert any(
        world.in_collision(planner.robot.with_arm(q, arm_start + t * (arm_goal - arm_start)))
        for t in np.linspace(0, 1, 50)
    )
    # ... and every point it sends, densely interpolated, is clear of the table and the wall.
    positions = result.trajectory.positions
    for a, b in itertools.pairwise(positions):
        for t in np.linspace(0.0, 1.0, 4):
            assert not world.in_collision(planner.robot.with_arm(q, a + t * (b - a)))


def _around_the_wall(planner: EmbeddedPlanner, seed: int):
    first = planner.plan(START, [PoseWaypoint(np.array([0.5, 0.3, 0.1]), DOWN, name="left")], PlanningScene())
    assert first.ok, first.error
    wall = Box("wall", np.array([0.5, 0.0, 0.15]), np.array([0.2, 0.02, 0.15]))
    goal = [PoseWaypoint(np.array([0.5, -0.3, 0.1]), DOWN, name="right")]
    before = planner.rrt_connect_calls
    result = planner.plan(first.end_state, goal, PlanningScene([wall]), seed=seed)
    assert result.ok, result.error
    assert planner.rrt_connect_calls == before + 1  # the straight line is blocked: OMPL sampled a path
    return result.trajectory


def test_the_same_seed_gives_the_same_sampled_plan_and_another_seed_another(planner):
    one, two = _around_the_wall(planner, 3), _around_the_wall(planner, 3)
    assert np.array_equal(one.positions, two.positions)
    assert np.array_equal(one.times, two.times)
    others = [_around_the_wall(planner, seed) for seed in (4, 5, 6)]
    # RRTConnect's samples decide the path: some other seed goes around differently.
    assert any(
        o.positions.shape != one.positions.shape or not np.allclose(o.positions, one.positions)
        for o in others
    )


def test_a_descent_close_to_the_base_is_continuous_and_straight(planner):
    # 34 cm from the base with the hand at 45 degrees the joints move ~0.25 rad per centimetre of descent near
    # 9 cm above the table: fast but continuous, so the step is subdivided instead of refused as a jump.
    x, y = 0.34, -0.09
    turned = Rotation.from_euler("z", math.radians(45)) * DOWN
    result = planner.plan(
        START,
        [
            PoseWaypoint(np.array([x, y, 0.2]), turned, Motion.FREE, name="above"),
            PoseWaypoint(np.array([x, y, 0.04]), turned, Motion.LINEAR, name="grasp"),
        ],
        PlanningScene(),
    )
    assert result.ok, result.error
    positions = result.trajectory.positions
    assert float(np.max(np.abs(np.diff(positions, axis=0)))) < planner.settings.max_joint_jump
    for arm in positions:
        position, _ = tool_at(planner, arm)
        if position[2] < 0.19:
            assert np.linalg.norm(position[:2] - [x, y]) < 2e-3


def test_a_jump_to_another_ik_branch_is_refused(planner, monkeypatch):
    # An IK answer that moves a joint 0.5 rad at one point of the line, however small the step: a branch flip.
    solve = planner.robot.solve_ik

    def flipping(q, target, rotation, max_iterations=60):
        solution = solve(q, target, rotation, max_iterations=max_iterations)
        if solution is not None and target[2] < 0.1:
            solution = solution.copy()
            solution[planner.robot.q_index[0]] += 0.5
        return solution

    monkeypatch.setattr(planner.robot, "solve_ik", flipping)
    waypoints = [
        PoseWaypoint(np.array([0.55, -0.1, 0.2]), DOWN, Motion.FREE, name="above"),
        PoseWaypoint(np.array([0.55, -0.1, 0.06]), DOWN, Motion.LINEAR, name="down"),
    ]
    result = planner.plan(START, waypoints, PlanningScene())
    assert not result.ok
    assert result.error.code == ErrorCode.PLANNING_FAILED
    assert "joint jump" in result.error.message
