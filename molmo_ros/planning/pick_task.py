"""The pick as a stage machine in plain Python: point, locate, plan, approach, grasp, lift.

The pick node gives it ROS I/O (service calls, topics, tf) through :class:`PickIO`; the tests give it plain
Python objects. Every failure is a :class:`molmo_ros.errors.MolmoRosError` with the code a client receives
(NOT_FOUND, NO_DEPTH, UNREACHABLE, PLANNING_FAILED, EXECUTION_FAILED, GRASP_MISSED, CANCELED ...); each stage's
time is recorded also when it fails.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from molmo_ros.errors import ErrorCode, MolmoRosError
from molmo_ros.geometry import CameraIntrinsics, RigidTransform
from molmo_ros.planning.grasp import GraspSettings, Workspace
from molmo_ros.planning.perception import Capsule, PerceptionSettings
from molmo_ros.planning.pick import Located, PickPlan, PickSettings, lift_waypoints, locate, plan_pick
from molmo_ros.planning.planner import JointState, Planner
from molmo_ros.planning.trajectory import JointTrajectory

# The stages, in order; the same strings as the STAGE_* constants of molmo_ros_interfaces/action/Pick.
POINTING, LOCATING, PLANNING, APPROACHING, GRASPING, LIFTING, DONE = (
    "pointing",
    "locating",
    "planning",
    "approaching",
    "grasping",
    "lifting",
    "done",
)
STAGES = (POINTING, LOCATING, PLANNING, APPROACHING, GRASPING, LIFTING, DONE)


class CanceledError(MolmoRosError):
    """The client canceled the pick."""

    code = ErrorCode.CANCELED


@dataclass(frozen=True)
class DepthView:
    """The depth picture a target was found in: depth_m (H, W) meters (NaN where invalid), the camera's
    intrinsics, and the camera's optical frame in the planning frame."""

    depth_m: np.ndarray
    intrinsics: CameraIntrinsics
    camera_to_base: RigidTransform


class PickIO(Protocol):
    """What the pick needs from the robot and its sensors; every method raises MolmoRosError on failure."""

    def points(self, query: str) -> list[np.ndarray]:
        """The 3D points (3,) m, planning frame, of the objects the query names, in the model's order (only
        those with valid depth; NOT_FOUND when there are none, NO_DEPTH when none has depth)."""

    def depth_view(self) -> DepthView:
        """The depth frame that goes with the last :meth:`points` answer."""

    def joint_state(self) -> JointState:
        """The arm's and fingers' current joint positions."""

    def gripper(self, close: bool) -> None:
        """Close (True) or open the hand and wait until the fingers are at rest."""

    def finger_width(self) -> float:
        """Distance between the fingers now, meters."""

    def execute(self, trajectory: JointTrajectory) -> None:
        """Run the trajectory on the arm until it ends (raises EXECUTION_FAILED, or CANCELED and stops)."""

    def report(self, stage: str, detail: str) -> None:
        """Tell the client the pick entered `stage` (raises CanceledError if a cancel was requested)."""


@dataclass(frozen=True)
class PickTaskSettings:
    """The pick's geometry plus the grasp check: a closed hand narrower than min_grasp_width (m) holds nothing;
    seed: the planning seed (the same seed gives the same plan)."""

    pick: PickSettings
    min_grasp_width: float = 0.005
    seed: int = 0

    @classmethod
    def from_parameters(cls, p: dict[str, Any]) -> PickTaskSettings:
        """From the pick node's parameters (config/pick.yaml, section molmo_pick)."""
        workspace = Workspace(
            p["workspace_min_radius"], p["workspace_max_radius"], p["workspace_min_z"], p["workspace_max_z"]
        )
        grasp = GraspSettings(
            approach=p["approach_distance"], lift=p["lift_distance"], depth=p["grasp_depth"]
        )
        pick = PickSettings(
            workspace=workspace, grasp=grasp, perception=PerceptionSettings(table_z=p["table_z"])
        )
        return cls(pick, float(p["min_grasp_width"]), int(p["seed"]))


@dataclass
class PickReport:
    """What a pick did: the target (3,) m in the planning frame once pointed, milliseconds per stage (in the
    order run), the width between the fingers after the lift (m), the segmented scene and the plan (once
    made; the place that follows a pick starts from them)."""

    target: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)
    grasp_width: float = 0.0
    located: Located | None = None
    plan: PickPlan | None = None


def first_point(points: list[np.ndarray]) -> np.ndarray:
    """The object the model named first."""
    return points[0]


def robot_capsules(planner: Planner, joints: JointState) -> list[Capsule] | None:
    """Capsules around the arm's links at `joints`, to remove the arm from the depth picture (None when the
    planner has no robot model)."""
    robot = getattr(planner, "robot", None)
    if robot is None:
        return None
    return robot.link_capsules(robot.full_configuration(joints.names, joints.positions))


@contextlib.contextmanager
def timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        # Summed: a task that runs a stage several times (one pick per object) reports its total.
        timings[stage] = timings.get(stage, 0.0) + (time.perf_counter() - start) * 1e3


def run_pick(
    query: str,
    io: PickIO,
    planner: Planner,
    settings: PickTaskSettings,
    report: PickReport | None = None,
    select: Callable[[list[np.ndarray]], np.ndarray] = first_point,
) -> PickReport:
    """Pick up the object `query` names and hold it lifted.

    Args:
        query: what to pick ("the red cup"); an empty query is INVALID_REQUEST before anything moves.
        io: the robot and its sensors.
        planner: plans the approach and the lift; its ``robot`` model, when it has one, removes the arm
            from the depth picture.
        settings: geometry, grasp check, seed.
        report: filled in as the pick goes (pass one to keep the timings of a pick that fails).
        select: which of the pointed objects to pick (default: the first); may raise MolmoRosError.

    Raises:
        MolmoRosError: the first failure, with its code; the report keeps what was done until then.
    """
    report = report if report is not None else PickReport()
    timings = report.timings
    if not query.strip():
        raise MolmoRosError("the query is empty", ErrorCode.INVALID_REQUEST)
    seed = settings.seed
    with timed(timings, POINTING):
        io.report(POINTING, f"pointing at {query!r}")
        target = np.asarray(select(io.points(query)), dtype=float)
        report.target = target
    with timed(timings, LOCATING):
        io.report(LOCATING, f"target at {np.round(target, 3).tolist()} m")
        settings.pick.workspace.check(target)  # an out-of-reach target needs no camera or arm state
        view = io.depth_view()
        joints = io.joint_state()
        capsules = robot_capsules(planner, joints)
        located = locate(target, view.depth_m, view.intrinsics, view.camera_to_base, settings.pick, capsules)
        report.located = located
    with timed(timings, PLANNING):
        io.report(PLANNING, f"{len(located.candidates)} grasp candidate(s)")
        plan = plan_pick(planner, joints, located, seed)
        report.plan = plan
    with timed(timings, APPROACHING):
        io.report(APPROACHING, f"{plan.approach.trajectory.duration:.1f} s to the grasp")
        io.gripper(False)
        io.execute(plan.approach.trajectory)
    with timed(timings, GRASPING):
        io.report(GRASPING, "closing the gripper")
        io.gripper(True)
        width = io.finger_width()
        if width < settings.min_grasp_width:
            io.gripper(False)
            raise MolmoRosError(
                f"the gripper closed on nothing ({width * 1000:.1f} mm between the fingers)",
                ErrorCode.GRASP_MISSED,
            )
    with timed(timings, LIFTING):
        io.report(LIFTING, f"lifting {settings.pick.grasp.lift * 100:.0f} cm")
        # Re-plan the lift from where the arm really is (the object may have nudged it); keep the plan made
        # before moving if that fails.
        lift = planner.plan(
            io.joint_state(), lift_waypoints(plan.candidate, plan.target_name), plan.scene, seed
        )
        io.execute((lift if lift.ok else plan.lift).trajectory)
        width = io.finger_width()
        if width < settings.min_grasp_width:
            raise MolmoRosError(
                f"the object slipped out while lifting ({width * 1000:.1f} mm between the fingers)",
                ErrorCode.GRASP_MISSED,
            )
    report.grasp_width = width
    io.report(DONE, f"holding the object ({width * 1000:.0f} mm)")
    return report
