"""The pick as plain Python: locate the pointed object in the depth image, lay out grasp candidates, and plan
the approach (free motion to the pre-grasp, straight down to the grasp) and the lift (straight up) for the
first candidate a planner can do. The pick node adds ROS around it; the tests drive it directly."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from molmo_ros.errors import ErrorCode, MolmoRosError
from molmo_ros.geometry import CameraIntrinsics, RigidTransform
from molmo_ros.planning.grasp import GraspCandidate, GraspSettings, UnreachableError, Workspace, plan_grasp
from molmo_ros.planning.perception import (
    Capsule,
    PerceptionSettings,
    SceneObservation,
    observe_scene,
    scene_cloud,
)
from molmo_ros.planning.planner import JointState, Motion, Planner, PlanningScene, PlanResult, PoseWaypoint


@dataclass(frozen=True)
class PickSettings:
    """Everything the pick's geometry needs (see config/pick.yaml)."""

    workspace: Workspace
    grasp: GraspSettings = field(default_factory=GraspSettings)
    perception: PerceptionSettings = field(default_factory=PerceptionSettings)
    max_candidates: int = 4


@dataclass(frozen=True)
class Located:
    """The scene around the target: its segmentation, grasp candidates (best first) and the name of the
    target's obstacle box ("" when no object was segmented at the target)."""

    observation: SceneObservation
    candidates: list[GraspCandidate]
    target_name: str


@dataclass(frozen=True)
class PickPlan:
    """The chosen grasp, the approach trajectory (start -> pre-grasp -> grasp) and the lift (grasp -> up)."""

    candidate: GraspCandidate
    approach: PlanResult
    lift: PlanResult
    scene: PlanningScene
    target_name: str
    attempts: int


def locate(
    target: np.ndarray,
    depth_m: np.ndarray,
    intrinsics: CameraIntrinsics,
    camera_to_base: RigidTransform,
    settings: PickSettings,
    robot_capsules: list[Capsule] | None = None,
) -> Located:
    """Segment the object at `target` (3,) (planning frame, m) and lay out its grasps.

    Raises UnreachableError when the target is outside the workspace, DepthError when the depth image has
    no valid pixel. When no object is segmented at the target the grasp goes to the target itself, at the
    default orientation.
    """
    target = np.asarray(target, dtype=float)
    settings.workspace.check(target)
    cloud = scene_cloud(depth_m, intrinsics, camera_to_base, settings.perception.stride, robot_capsules)
    observation = observe_scene(cloud, target, settings.perception)
    obj = observation.target
    if obj is None:
        candidates = plan_grasp(
            target[:2], float(target[2]), observation.table_z, None, 1.0, 0.0, settings.grasp
        )
        name = ""
    else:
        settings.workspace.check(np.array([*obj.centre_xy, obj.top_z]))
        candidates = plan_grasp(
            obj.centre_xy,
            obj.top_z,
            observation.table_z,
            obj.principal_yaw,
            obj.elongation,
            obj.width,
            settings.grasp,
        )
        name = obj.box.name
    return Located(observation, candidates[: settings.max_candidates], name)


def approach_waypoints(candidate: GraspCandidate, target_name: str) -> list[PoseWaypoint]:
    allowed = frozenset({target_name}) if target_name else frozenset()
    return [
        PoseWaypoint(candidate.pregrasp, candidate.rotation, Motion.FREE, frozenset(), "pre-grasp"),
        PoseWaypoint(candidate.grasp, candidate.rotation, Motion.LINEAR, allowed, "grasp"),
    ]


def lift_waypoints(candidate: GraspCandidate, target_name: str) -> list[PoseWaypoint]:
    allowed = frozenset({target_name}) if target_name else frozenset()
    return [PoseWaypoint(candidate.lift, candidate.rotation, Motion.LINEAR, allowed, "lift")]


def plan_pick(planner: Planner, start: JointState, located: Located, seed: int = 0) -> PickPlan:
    """Plan approach and lift for the first grasp candidate that works.

    Raises the most telling error when none does: PLANNING_FAILED when some candidate was reachable but
    blocked, UNREACHABLE when none could be reached at all.
    """
    scene = PlanningScene(located.observation.obstacles(include_target=True), located.observation.table_z)
    errors: list[MolmoRosError] = []
    for attempt, candidate in enumerate(located.candidates, start=1):
        approach = planner.plan(start, approach_waypoints(candidate, located.target_name), scene, seed)
        if not approach.ok:
            errors.append(approach.error)
            continue
        lift = planner.plan(approach.end_state, lift_waypoints(candidate, located.target_name), scene, seed)
        if not lift.ok:
            errors.append(lift.error)
            continue
        return PickPlan(candidate, approach, lift, scene, located.target_name, attempt)
    if not errors:
        raise UnreachableError("no grasp candidate for the target")
    blocked = [e for e in errors if e.code == ErrorCode.PLANNING_FAILED]
    first = blocked[0] if blocked else errors[0]
    summary = "; ".join(dict.fromkeys(str(e) for e in errors))
    raise MolmoRosError(f"no grasp of {len(located.candidates)} could be planned: {summary}", first.code)
