"""The pick's stage machine without ROS or a simulator: a plain-Python robot (:class:`TableRobot`) that moves
its joints to where each trajectory ends, a depth picture ray-cast from boxes, and the real embedded planner
(or a scripted one where a test needs a planner that fails on cue)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from molmo_ros.config import config_path, node_parameters
from molmo_ros.errors import ErrorCode, MolmoRosError
from molmo_ros.planning.description import ARM_JOINTS, FINGER_JOINTS, HOME_ARM
from molmo_ros.planning.pick_task import (
    STAGES,
    CanceledError,
    DepthView,
    PickReport,
    PickTaskSettings,
    run_pick,
)
from molmo_ros.planning.planner import JointState, Planner, PlanningError, PlanResult
from molmo_ros.planning.trajectory import JointTrajectory
from support.depth_scene import INTRINSICS, overhead_camera, render_depth

CAMERA = overhead_camera()
BLOCK = ((0.5, 0.05, 0.03), (0.02, 0.04, 0.03))  # 4 x 8 x 6 cm on the table
SETTINGS = PickTaskSettings.from_parameters(node_parameters(config_path("pick.yaml"), "molmo_pick"))


@dataclass
class TableRobot:
    """A robot whose arm is wherever the last trajectory ended; the fingers close to `object_width`."""

    target: tuple[float, float, float] = (0.5, 0.05, 0.06)
    object_width: float = 0.04
    width_after_lift: float | None = None  # the object slips out while lifting when set (m)
    cancel_at: str = ""
    point_error: MolmoRosError | None = None
    arm: np.ndarray = field(default_factory=lambda: np.array(HOME_ARM))
    closed: bool = False
    lifted: bool = False
    stages: list[str] = field(default_factory=list)
    executed: list[JointTrajectory] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def report(self, stage: str, detail: str) -> None:
        if stage == self.cancel_at:
            raise CanceledError(f"canceled before {stage}")
        self.stages.append(stage)

    def points(self, query: str) -> list[np.ndarray]:
        self.calls.append("point")
        if self.point_error is not None:
            raise self.point_error
        return [np.array(self.target)]

    def depth_view(self) -> DepthView:
        self.calls.append("depth_view")
        return DepthView(render_depth([BLOCK], CAMERA), INTRINSICS, CAMERA)

    def joint_state(self) -> JointState:
        fingers = [0.0, 0.0] if not self.closed else [self.finger_width() / 2] * 2
        return JointState((*ARM_JOINTS, *FINGER_JOINTS), np.array([*self.arm, *fingers]))

    def gripper(self, close: bool) -> None:
        self.calls.append("close" if close else "open")
        self.closed = close

    def finger_width(self) -> float:
        if not self.closed:
            return 0.08
        if self.lifted and self.width_after_lift is not None:
            return self.width_after_lift
        return self.object_width

    def execute(self, trajectory: JointTrajectory) -> None:
        self.executed.append(trajectory)
        self.arm = trajectory.positions[-1][: len(ARM_JOINTS)].copy()
        self.lifted = len(self.executed) >= 2


@pytest.fixture(scope="module")
def planner():
    from molmo_ros.planning.embedded import EmbeddedPlanner, EmbeddedSettings

    return EmbeddedPlanner(EmbeddedSettings(planning_time_s=1.0))


def test_a_pick_lifts_the_pointed_block_through_every_stage(planner):
    robot = TableRobot()
    report = run_pick("the red block", robot, planner, SETTINGS)
    assert robot.stages == list(STAGES)
    assert list(report.timings) == list(STAGES[:-1])
    assert all(ms >= 0 for ms in report.timings.values())
    np.testing.assert_allclose(report.target, robot.target)
    assert robot.calls == ["point", "depth_view", "open", "close"]
    assert report.grasp_width == pytest.approx(0.04)
    # The arm ended above the block by the lift distance, fingers down.
    model = planner.robot
    q = model.full_configuration(ARM_JOINTS, robot.arm)
    position, rotation = model.tool_pose(q)
    grasp_z = 0.06 - SETTINGS.pick.grasp.depth
    np.testing.assert_allclose(position[:2], [0.5, 0.05], atol=5e-3)
    assert position[2] == pytest.approx(grasp_z + SETTINGS.pick.grasp.lift, abs=5e-3)
    assert rotation.apply([0, 0, 1])[2] < -0.99
    # Across the block's narrow side: the fingers (hand y axis) close along the world x axis.
    assert abs(rotation.apply([0, 1, 0])[0]) > 0.99


def test_a_hand_that_closes_on_nothing_is_grasp_missed_and_opens_again(planner):
    robot = TableRobot(object_width=0.001)
    report = PickReport()
    with pytest.raises(MolmoRosError) as err:
        run_pick("the red block", robot, planner, SETTINGS, report)
    assert err.value.code == ErrorCode.GRASP_MISSED
    assert "closed on nothing" in str(err.value)
    assert robot.calls[-2:] == ["close", "open"]
    assert list(report.timings)[-1] == "grasping"  # the failing stage is timed too


def test_an_object_that_slips_while_lifting_is_grasp_missed(planner):
    robot = TableRobot(width_after_lift=0.0)
    with pytest.raises(MolmoRosError, match="slipped") as err:
        run_pick("the red block", robot, planner, SETTINGS)
    assert err.value.code == ErrorCode.GRASP_MISSED
    assert len(robot.executed) == 2


def test_an_unreachable_target_fails_before_the_camera_or_the_arm_is_used(planner):
    robot = TableRobot(target=(1.4, 0.0, 0.05))
    with pytest.raises(MolmoRosError) as err:
        run_pick("the far block", robot, planner, SETTINGS)
    assert err.value.code == ErrorCode.UNREACHABLE
    assert robot.calls == ["point"] and robot.executed == []


@pytest.mark.parametrize("code", [ErrorCode.NOT_FOUND, ErrorCode.NO_DEPTH, ErrorCode.MODEL_UNAVAILABLE])
def test_pointing_errors_end_the_pick_with_their_code(planner, code):
    robot = TableRobot(point_error=MolmoRosError("scripted", code))
    report = PickReport()
    with pytest.raises(MolmoRosError) as err:
        run_pick("the red block", robot, planner, SETTINGS, report)
    assert err.value.code == code
    assert list(report.timings) == ["pointing"] and report.target is None


def test_an_empty_query_is_refused_before_pointing(planner):
    robot = TableRobot()
    with pytest.raises(MolmoRosError) as err:
        run_pick("  \t", robot, planner, SETTINGS)
    assert err.value.code == ErrorCode.INVALID_REQUEST and robot.calls == []


def test_a_cancel_stops_before_the_next_stage_and_nothing_more_moves(planner):
    robot = TableRobot(cancel_at="grasping")
    with pytest.raises(CanceledError):
        run_pick("the red block", robot, planner, SETTINGS)
    assert len(robot.executed) == 1 and "close" not in robot.calls


class ScriptedPlanner(Planner):
    """Answers each plan() with the next scripted result: a one-point-per-waypoint line, or an error."""

    name = "scripted"

    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes = outcomes
        self.starts: list[np.ndarray] = []

    def plan(self, start, waypoints, scene, seed=0) -> PlanResult:
        self.starts.append(start.positions[:7].copy())
        outcome = self.outcomes.pop(0)
        if outcome == "fail":
            return PlanResult(None, PlanningError("scripted failure"), 1.0)
        end = start.positions[:7] + float(outcome)
        trajectory = JointTrajectory(ARM_JOINTS, np.array([0.5]), end[None, :])
        return PlanResult(trajectory, None, 1.0, JointState(ARM_JOINTS, end))


def test_the_lift_is_replanned_from_where_the_arm_is_and_the_first_plan_kept_if_that_fails():
    # approach (+0.1), lift planned ahead (+0.2), re-planned lift from the real state fails -> the first lift.
    planner = ScriptedPlanner(["0.1", "0.2", "fail"])
    robot = TableRobot()
    run_pick("the red block", robot, planner, SETTINGS)
    home = np.array(HOME_ARM)
    np.testing.assert_allclose(planner.starts[2], home + 0.1)  # from the state after the approach
    np.testing.assert_allclose(robot.executed[1].positions[-1], home + 0.1 + 0.2)
    planner = ScriptedPlanner(["0.1", "0.2", "0.3"])
    robot = TableRobot()
    run_pick("the red block", robot, planner, SETTINGS)
    np.testing.assert_allclose(robot.executed[1].positions[-1], home + 0.1 + 0.3)


def test_no_plan_for_any_candidate_is_planning_failed():
    planner = ScriptedPlanner(["fail"] * 8)
    robot = TableRobot()
    with pytest.raises(MolmoRosError) as err:
        run_pick("the red block", robot, planner, SETTINGS)
    assert err.value.code == ErrorCode.PLANNING_FAILED and robot.executed == []


def test_the_stage_names_are_the_action_constants():
    from molmo_ros_interfaces.action import Pick

    constants = [getattr(Pick.Goal, f"STAGE_{s.upper()}") for s in STAGES]
    assert constants == list(STAGES)
