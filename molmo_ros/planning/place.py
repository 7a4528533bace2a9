"""Where and how to put a held object down: the destination from a pointed point and the depth picture, a
release pose above it, and the motions there (transport, place, retreat) and back (put back on failure).

A destination is what the pointing hit: an object with a floor below its rim is a container (a bowl: the
object is released above its floor, inside the rim), any other object a surface to stand on (its top), and
no object at all the table (at the point itself, if that spot is free). One object goes to a container's
centre; when more will follow, objects go to its edge, each to the spot with the most room to those already
inside (seen in the depth picture of its own pick, and those this task released there), the fingers
opening along the wall.
Plain Python, no ROS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from molmo_ros.errors import ErrorCode, MolmoRosError
from molmo_ros.planning.grasp import Workspace
from molmo_ros.planning.perception import (
    Box,
    Capsule,
    PerceptionSettings,
    SceneObservation,
    observe_scene,
    scene_cloud,
)
from molmo_ros.planning.pick import PickPlan
from molmo_ros.planning.planner import JointState, Motion, Planner, PlanningScene, PlanResult, PoseWaypoint


@dataclass(frozen=True)
class PlaceSettings:
    """How objects are put down (m).

    clearance: the object's bottom this far above what it will stand on when the hand opens;
    container_depth: a floor at least this far below the rim makes the destination a container;
    wall_margin: a placed object keeps this far from a container's wall;
    free_radius: on the table, no other object within this of the place point;
    approach: the hand comes down to the release pose and leaves it by this much;
    verify_radius: after the place, a point this close to where the object was means it is still there.
    """

    clearance: float = 0.02
    container_depth: float = 0.015
    wall_margin: float = 0.02
    free_radius: float = 0.05
    approach: float = 0.12
    verify_radius: float = 0.03


@dataclass(frozen=True)
class Destination:
    """Where objects go (planning frame, m).

    point: (3,) the pointed (or given) point; centre_xy: (2,) the middle of the destination; surface_z: what a
    placed object stands on (a container's floor, an object's top, the table); radius: how far from the
    centre a placed object still counts as there; container: whether it has a rim to stay inside; box: its
    obstacle box, None for the table (the motion down to the release may touch it).
    """

    point: np.ndarray
    centre_xy: np.ndarray
    surface_z: float
    radius: float
    container: bool
    box: Box | None

    def holds(self, point: np.ndarray, margin: float = 0.01) -> bool:
        """Whether `point` (3,) lies over the destination (within its radius plus `margin`, seen from above)."""
        return float(np.linalg.norm(np.asarray(point)[:2] - self.centre_xy)) <= self.radius + margin


def find_destination(
    point: np.ndarray,
    depth_m: np.ndarray,
    intrinsics,
    camera_to_base,
    perception: PerceptionSettings,
    workspace: Workspace,
    settings: PlaceSettings,
    robot_capsules: list[Capsule] | None = None,
) -> Destination:
    """The destination at `point` (3,) in the depth picture (H, W) m.

    Raises UnreachableError when it is outside the workspace, PLANNING_FAILED when the pointed spot on the
    table is taken by another object, DepthError when the depth picture has no valid pixel.
    """
    point = np.asarray(point, dtype=float)
    workspace.check(point)
    cloud = scene_cloud(depth_m, intrinsics, camera_to_base, perception.stride, robot_capsules)
    observation = observe_scene(cloud, point, perception)
    # The object the point lies on, seen from above; on several (a bowl and what it holds), the one that
    # encloses the others. On none: a spot on the table beside them.
    under = [o for o in observation.objects if o.box.holds(point, 0.01, footprint=True)]
    target = max(under, key=lambda o: float(np.prod(o.box.half_extents[:2]))) if under else None
    if target is None:
        for obj in observation.objects:
            gap = float(np.min(np.linalg.norm(obj.points[:, :2] - point[:2], axis=1)))
            if gap < settings.free_radius:
                raise MolmoRosError(
                    f"the place point {np.round(point, 3).tolist()} m is taken: an object is "
                    f"{gap * 100:.1f} cm from it",
                    ErrorCode.PLANNING_FAILED,
                )
        return Destination(point, point[:2].copy(), observation.table_z, settings.verify_radius, False, None)
    half = target.box.half_extents
    inner = 0.4 * float(min(half[0], half[1]))
    near = cloud[np.linalg.norm(cloud[:, :2] - target.centre_xy, axis=1) < inner]
    floor = float(np.median(near[:, 2])) if len(near) else target.top_z
    container = floor < target.top_z - settings.container_depth
    surface = floor if container else target.top_z
    workspace.check(np.array([*target.centre_xy, surface]))
    radius = float(min(half[0], half[1]))
    return Destination(point, target.centre_xy.copy(), surface, radius, container, target.box)


@dataclass(frozen=True)
class Spot:
    """Where the held object goes: xy (2,) m; the obstacle boxes already in the destination (the hand may touch
    them on the way down); the direction (2,) the fingers must open across, from the container's centre out
    (None at the centre: any way)."""

    xy: np.ndarray
    contents: frozenset[str]
    across: np.ndarray | None


def free_spot(
    destination: Destination,
    observation: SceneObservation,
    obstacles: list[Box],
    held_radius: float,
    settings: PlaceSettings,
    more_to_come: bool = False,
    placed: list[tuple[np.ndarray, float]] | None = None,
) -> Spot:
    """Where in `destination` the held object goes (planning frame, m).

    Not a container: its centre. An empty container: its centre, or, when `more_to_come`, its edge (as far out
    as the object fits inside the wall) so the next ones find room. A container that holds objects already:
    the spot on that edge circle with the most room to them (their points inside the container above the
    floor, from the pick's depth picture `observation`). `obstacles`: the pick's boxes;
    `held_radius`: the held object's radius across its body (m). `placed`: (xy (2,), radius) m of the objects
    this task released there before: counted as inside even when the depth picture does not show them (one
    hides another from the camera).
    """
    centre = destination.centre_xy
    if not destination.container:
        return Spot(centre.copy(), frozenset(), None)
    inner = destination.radius - settings.wall_margin
    reach = max(inner - held_radius, 0.0)
    contents = frozenset(b.name for b in obstacles if np.linalg.norm(b.centre[:2] - centre) < inner)
    # What is inside already, as the points the depth picture shows above the floor (objects that touch
    # come out of the segmentation as one: a disc around them would cover the whole container), and as a
    # disc (xy, radius) per object this task released there.
    seen = [np.zeros((0, 2))]
    for obj in observation.objects:
        inside = obj.points[
            (np.linalg.norm(obj.points[:, :2] - centre, axis=1) < inner)
            & (obj.points[:, 2] > destination.surface_z + 0.01)
        ]
        if len(inside) >= 10:
            seen.append(inside[:, :2])
    seen_xy = np.concatenate(seen)
    discs = [(np.asarray(xy, dtype=float)[:2], float(r)) for xy, r in placed or []]
    if not len(seen_xy) and not discs:
        if not more_to_come:
            return Spot(centre.copy(), contents, None)
        out = np.array([-1.0, 0.0])  # towards the robot: the nearer side
        return Spot(centre + reach * out, contents, out)
    angles = np.radians(np.arange(0.0, 360.0, 10.0))
    candidates = centre + reach * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    room = np.full(len(candidates), np.inf)  # to the nearest edge of what is inside (m)
    if len(seen_xy):
        room = np.linalg.norm(candidates[:, None] - seen_xy[None], axis=2).min(axis=1)
    for xy, r in discs:
        room = np.minimum(room, np.linalg.norm(candidates - xy, axis=1) - r)
    best = candidates[int(np.argmax(room))]
    return Spot(best, contents, best - centre)


def release_rotation(spot: Spot, held: Rotation) -> Rotation:
    """The hand's orientation at the release: the grasp's own at a container's centre or on a surface; at a
    container's edge pointing down with the fingers opening along the wall, not into it (nor towards the
    objects across the centre), the wrist turning least of the two ways."""
    if spot.across is None or float(np.linalg.norm(spot.across)) < 1e-6:
        return held
    # Fingers open along the tool y axis, (sin yaw, -cos yaw) for a top-down hand: across d at yaw = angle(d).
    angle = math.atan2(float(spot.across[1]), float(spot.across[0]))
    held_yaw = float(held.as_euler("ZYX")[0])
    yaw = min((angle, angle + math.pi), key=lambda a: abs(math.remainder(a - held_yaw, 2.0 * math.pi)))
    return Rotation.from_euler("z", yaw) * Rotation.from_euler("x", math.pi)


@dataclass(frozen=True)
class PlacePlan:
    """Transport (from the lift to above the release), place (straight down to it) and retreat (straight
    up), planned before anything moves, and the release point: where the object's bottom centre will be
    when the hand opens (planning frame, m)."""

    transport: PlanResult
    place: PlanResult
    retreat: PlanResult
    release_point: np.ndarray


def plan_place(
    planner: Planner,
    start: JointState,
    pick: PickPlan,
    destination: Destination,
    spot: Spot,
    settings: PlaceSettings,
    seed: int = 0,
    home: PoseWaypoint | None = None,
) -> PlacePlan:
    """Plan the held object from where the lift left it to `spot` in `destination`, and back up; then, with
    `home`, a free motion there (out of the camera's view of the destination: the next pointing and the
    verification see it whole; when that cannot be planned the hand stays above the destination).

    The carried object keeps the height the lift gave it: the transport is a straight line at that height
    (a free motion when the line is blocked), the place comes straight down. Raises the planner's error
    (UNREACHABLE, PLANNING_FAILED) when no motion works.
    """
    # How far the tool centre is above the object's bottom, from the grasp.
    held_offset = float(pick.candidate.grasp[2] - pick.scene.table_z)
    xy = spot.xy
    release = np.array([xy[0], xy[1], destination.surface_z + settings.clearance + held_offset])
    rotation = release_rotation(spot, pick.candidate.rotation)
    above = release + np.array([0.0, 0.0, settings.approach])
    above[2] = max(above[2], float(pick.candidate.lift[2]))
    # The picked object is in the hand now: not an obstacle where it stood.
    obstacles = [b for b in pick.scene.obstacles if b.name != pick.target_name]
    scene = PlanningScene(obstacles, pick.scene.table_z)
    # The destination and what it already holds: the hand goes down among them.
    # The destination the hand goes down into (its footprint holds the release point, 1 cm margin).
    allowed = frozenset(b.name for b in obstacles if b.holds(release, 0.01, footprint=True)) | spot.contents
    errors = []
    for motion in (Motion.LINEAR, Motion.FREE):
        carry = PoseWaypoint(above, rotation, motion, frozenset(), "above the destination")
        transport = planner.plan(start, [carry], scene, seed)
        if transport.ok:
            break
        errors.append(transport.error)
    else:
        _raise_first("the transport could not be planned", errors)
    down = PoseWaypoint(release, rotation, Motion.LINEAR, allowed, "release")
    place = planner.plan(transport.end_state, [down], scene, seed)
    if not place.ok:
        _raise_first("the place could not be planned", [place.error])
    # Up the way it came; a shorter line, or a free motion out of the destination (which it may touch),
    # where the straight line passes too close to a singularity.
    errors = []
    for motion, rise in ((Motion.LINEAR, 1.0), (Motion.LINEAR, 0.5), (Motion.FREE, 1.0)):
        lifted = release + np.array([0.0, 0.0, rise * (above[2] - release[2])])
        up = PoseWaypoint(lifted, rotation, motion, allowed, "retreat")
        retreat = planner.plan(place.end_state, [up, home], scene, seed) if home is not None else None
        if retreat is None or not retreat.ok:
            retreat = planner.plan(place.end_state, [up], scene, seed)
        if retreat.ok:
            break
        errors.append(retreat.error)
    else:
        _raise_first("the retreat could not be planned", errors)
    return PlacePlan(transport, place, retreat, release - np.array([0.0, 0.0, held_offset]))


def _raise_first(what: str, errors: list[MolmoRosError]) -> None:
    """Raise `what` with every distinct reason and the most telling code (PLANNING_FAILED over UNREACHABLE)."""
    first = next((e for e in errors if e.code == ErrorCode.PLANNING_FAILED), errors[0])
    summary = "; ".join(dict.fromkeys(str(e) for e in errors))
    raise MolmoRosError(f"{what}: {summary}", first.code)


def plan_put_back(planner: Planner, start: JointState, pick: PickPlan, seed: int = 0) -> PlanResult:
    """The held object straight back down to where it was grasped (when it cannot be placed)."""
    allowed = frozenset({pick.target_name}) if pick.target_name else frozenset()
    down = PoseWaypoint(pick.candidate.grasp, pick.candidate.rotation, Motion.LINEAR, allowed, "put back")
    return planner.plan(start, [down], pick.scene, seed)


def home_waypoint(planner: Planner, start: JointState) -> PoseWaypoint | None:
    """A free motion back to the hand's pose at `start` (None when the planner has no robot model to say
    where that is)."""
    robot = getattr(planner, "robot", None)
    if robot is None:
        return None
    position, rotation = robot.tool_pose(robot.full_configuration(start.names, start.positions))
    return PoseWaypoint(position, rotation, Motion.FREE, frozenset(), "home")


def plan_retreat(
    planner: Planner,
    start: JointState,
    tool_z: float,
    table_z: float,
    seed: int = 0,
    home: PoseWaypoint | None = None,
) -> PlanResult | None:
    """Straight up to `tool_z` (m) from wherever the hand is (after a miss, a put-back or a blocked descent),
    no obstacles but the table: the hand leaves the way it came; then to `home` when given and plannable.
    None when the planner has no robot model to tell where the hand is (moveit_py: the next free motion
    starts from where it is)."""
    robot = getattr(planner, "robot", None)
    if robot is None:
        return None
    position, rotation = robot.tool_pose(robot.full_configuration(start.names, start.positions))
    target = np.array([position[0], position[1], max(tool_z, position[2])])
    up = PoseWaypoint(target, rotation, Motion.LINEAR, frozenset(), "retreat")
    scene = PlanningScene([], table_z)
    if home is not None:
        both = planner.plan(start, [up, home], scene, seed)
        if both.ok:
            return both
    return planner.plan(start, [up], scene, seed)
