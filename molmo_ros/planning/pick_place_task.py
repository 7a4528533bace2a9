"""Pick and place as a stage machine in plain Python: "put the red cup in the green bowl", "put all the
blocks in the bowl".

The destination is pointed at and located first, so an absent or unreachable one ends the goal before
anything is picked. Then, object after object: point on a fresh frame (the scene changed), choose the next
object (not one already at the destination or one that could not be moved), pick it (:func:`run_pick`),
plan transport, place and retreat before moving, carry it, release it, retreat, and point again to verify.
A miss (the hand closed on nothing, the object slipped) re-points and tries again up to ``max_attempts``; a
place that cannot be planned puts the object back down where it was. Every object's outcome is kept: some
moved and some not is a partial success. The pick node gives it ROS I/O; the tests plain Python objects.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from molmo_ros.errors import ErrorCode, MolmoRosError
from molmo_ros.planning.pick_place_goal import (
    MAX_OBJECTS,
    PLACING,
    RELEASING,
    RETREATING,
    TRANSPORTING,
    VERIFYING,
    ObjectResult,
    PickPlaceGoal,
    PickPlaceIO,
    PickPlaceReport,
    PickPlaceSettings,
    Progress,
    wants_all,
)
from molmo_ros.planning.pick_task import (
    DONE,
    LOCATING,
    POINTING,
    CanceledError,
    PickReport,
    robot_capsules,
    run_pick,
    timed,
)
from molmo_ros.planning.place import (
    Destination,
    PlaceSettings,
    find_destination,
    free_spot,
    home_waypoint,
    plan_place,
    plan_put_back,
    plan_retreat,
)
from molmo_ros.planning.planner import Planner, PoseWaypoint

# Failures after which the next object is tried; any other (cancel, a controller or model failure) ends the
# goal, because the robot's state is no longer known to be safe.
_NEXT_OBJECT = {ErrorCode.UNREACHABLE, ErrorCode.PLANNING_FAILED, ErrorCode.NO_DEPTH, ErrorCode.GRASP_MISSED}


class _Tagged:
    """The I/O with the current object's progress attached to every report (run_pick reports plainly)."""

    def __init__(self, io: PickPlaceIO, progress: Progress) -> None:
        self._io, self._progress = io, progress

    def report(self, stage: str, detail: str) -> None:
        if stage == DONE:
            return  # the pick's end ("holding the object") is not the task's
        self._io.report(stage, detail, self._progress)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._io, name)


def run_pick_place(
    goal: PickPlaceGoal,
    io: PickPlaceIO,
    planner: Planner,
    settings: PickPlaceSettings,
    report: PickPlaceReport | None = None,
) -> PickPlaceReport:
    """Move the objects `goal.query` names to the destination (see the module docstring).

    Raises:
        MolmoRosError: a failure that ends the goal (an invalid goal; the destination not found or out of
            reach; cancel; the controller, gripper or model failing), with its code. Objects that could not be
            moved are not an exception: their codes are in the report's objects.
    """
    report = report if report is not None else PickPlaceReport()
    if not goal.query.strip():
        raise MolmoRosError("the query is empty", ErrorCode.INVALID_REQUEST)
    if not goal.place_query.strip() and goal.place_point is None:
        raise MolmoRosError("give a place query or a place pose", ErrorCode.INVALID_REQUEST)
    everything = wants_all(goal.query)
    wanted = goal.max_objects or (MAX_OBJECTS if everything else 1)
    attempts = goal.max_attempts or settings.max_attempts
    progress = Progress(0, wanted, 0)
    report.home = home_waypoint(planner, io.joint_state())  # where the hand returns after each place
    destination = _locate_destination(goal, _Tagged(io, progress), planner, settings, report.timings)
    report.destination = destination
    skipped: list[np.ndarray] = []  # where objects stood that could not be moved
    moved_since_skip = False
    while len(report.objects) < wanted:
        result = ObjectResult(len(report.objects))
        try:
            _move_one(goal.query, result, io, planner, settings, report, attempts, wanted, skipped)
            moved_since_skip = True
        except _NothingLeft as err:
            if skipped and moved_since_skip:
                # The scene changed since they failed (a neighbour that blocked the fingers may be gone):
                # each skipped object gets one more turn; its earlier failure gives way to the new outcome.
                report.objects = [
                    o
                    for o in report.objects
                    if o.code == ErrorCode.OK
                    or o.picked_from is None
                    or all(_apart(o.picked_from, p, settings.place.verify_radius) for p in skipped)
                ]
                skipped.clear()
                moved_since_skip = False
                continue
            if report.objects:
                break  # every object the query names is at the destination (or could not be moved)
            result.code, result.message = err.code, str(err)
            report.objects.append(result)
            raise
        except MolmoRosError as err:
            result.code, result.message = err.code, str(err)
            report.objects.append(result)
            if err.code not in _NEXT_OBJECT or not everything:
                if err.code not in _NEXT_OBJECT:
                    raise
                break
            if result.picked_from is not None:
                skipped.append(result.picked_from)
            continue
        report.objects.append(result)
    io.report(DONE, f"moved {report.moved} of {len(report.objects)}", Progress(len(report.objects), 0, 0))
    return report


class _NothingLeft(MolmoRosError):
    """No pointed object is left to move (all at the destination, or skipped)."""

    code = ErrorCode.NOT_FOUND


def _locate_destination(
    goal: PickPlaceGoal, io: Any, planner: Planner, settings: PickPlaceSettings, timings: dict[str, float]
) -> Destination:
    task = settings.task
    with timed(timings, POINTING):
        if goal.place_query.strip():
            io.report(POINTING, f"pointing at the destination {goal.place_query!r}")
            point = np.asarray(io.points(goal.place_query)[0], dtype=float)
        else:
            io.report(POINTING, "the destination is the given place pose")
            point = np.asarray(goal.place_point, dtype=float)
    with timed(timings, LOCATING):
        io.report(LOCATING, f"destination at {np.round(point, 3).tolist()} m")
        task.pick.workspace.check(point)  # out of reach: nothing is picked
        view = io.depth_view()
        capsules = robot_capsules(planner, io.joint_state())
        return find_destination(
            point,
            view.depth_m,
            view.intrinsics,
            view.camera_to_base,
            task.pick.perception,
            task.pick.workspace,
            settings.place,
            capsules,
        )


def _move_one(
    query: str,
    result: ObjectResult,
    io: PickPlaceIO,
    planner: Planner,
    settings: PickPlaceSettings,
    report: PickPlaceReport,
    attempts: int,
    wanted: int,
    skipped: list[np.ndarray],
) -> None:
    """Pick (with retries after a miss), carry, place, release, retreat and verify one object."""
    destination = report.destination
    everything = wants_all(query)
    place = settings.place
    for attempt in range(1, attempts + 1):
        result.attempts = attempt
        progress = Progress(result.index, 0, attempt)

        def choose(points: list[np.ndarray], progress: Progress = progress) -> np.ndarray:
            left = [
                np.asarray(p, dtype=float)
                for p in points
                if not destination.holds(p) and all(_apart(p, s, place.verify_radius) for s in skipped)
            ]
            if not left:
                raise _NothingLeft(f"no object for {query!r} is left outside the destination")
            progress.remaining = len(left) - 1 if everything else wanted - result.index - 1
            chosen = _most_clear(left) if everything else left[0]
            result.picked_from = chosen
            return chosen

        pick = PickReport(timings=report.timings)
        tagged = _Tagged(io, progress)
        try:
            run_pick(query, tagged, planner, settings.task, pick, select=choose)
            _place(query, result, tagged, planner, settings, report, pick, progress.remaining > 0)
            return
        except MolmoRosError as err:
            if err.code != ErrorCode.GRASP_MISSED or attempt == attempts:
                raise
            # Leave the way the hand came, then look again: the object moved, or is not where it seemed.
            if pick.plan is not None:
                _retreat(io, planner, pick, report.home)


def _place(
    query: str,
    result: ObjectResult,
    io: Any,
    planner: Planner,
    settings: PickPlaceSettings,
    report: PickPlaceReport,
    pick: PickReport,
    more_to_come: bool,
) -> None:
    destination, timings, seed = report.destination, report.timings, settings.task.seed
    observation = pick.located.observation
    target = observation.target
    # Its whole footprint (a mug's handle too): the part that must stay clear of the container's wall.
    held_radius = float(np.max(target.box.half_extents[:2])) if target is not None else 0.03
    obstacles = [b for b in pick.plan.scene.obstacles if b.name != pick.plan.target_name]
    # What this task put there before, also where the camera no longer sees it (behind what came after).
    placed = [
        (o.placed_at, o.held_radius)
        for o in report.objects
        if o.code == ErrorCode.OK and o.placed_at is not None
    ]
    spot = free_spot(destination, observation, obstacles, held_radius, settings.place, more_to_come, placed)
    with timed(timings, TRANSPORTING):
        inside = f", beside {len(spot.contents)} object(s) already there" if spot.contents else ""
        io.report(TRANSPORTING, f"carrying it to {np.round(spot.xy, 3).tolist()} m{inside}")
        try:
            plan = plan_place(
                planner, io.joint_state(), pick.plan, destination, spot, settings.place, seed, report.home
            )
        except MolmoRosError as err:
            raise MolmoRosError(f"{err}; {_put_back(io, planner, pick, seed)}", err.code) from err
        io.execute(plan.transport.trajectory)
        _still_held(io, settings, "while carrying it")
    blocked = False
    with timed(timings, PLACING):
        io.report(PLACING, f"lowering it to {plan.release_point[2] * 100:.1f} cm")
        try:
            io.execute(plan.place.trajectory)
        except MolmoRosError as err:
            if err.code != ErrorCode.EXECUTION_FAILED:
                raise
            # Stopped on the way down, over the destination (what is already inside is in the way): the
            # object is let go from where the hand stopped, a few cm above, and the check tells if it landed.
            blocked = True
    with timed(timings, RELEASING):
        io.report(RELEASING, "opening the gripper" + (" where the descent was stopped" if blocked else ""))
        io.gripper(False)
    result.placed_at, result.held_radius = plan.release_point, held_radius
    with timed(timings, RETREATING):
        io.report(RETREATING, "moving the hand up and out of the camera's view")
        if blocked:
            _retreat(io, planner, pick, report.home)
        else:
            io.execute(plan.retreat.trajectory)
    with timed(timings, VERIFYING):
        io.report(VERIFYING, f"pointing at {query!r} again")
        result.verified, result.verification = _verify(query, io, destination, result, settings.place)


def _still_held(io: Any, settings: PickPlaceSettings, when: str) -> None:
    width = io.finger_width()
    if width < settings.task.min_grasp_width:
        raise MolmoRosError(
            f"the object slipped out {when} ({width * 1000:.1f} mm between the fingers)",
            ErrorCode.GRASP_MISSED,
        )


def _put_back(io: Any, planner: Planner, pick: PickReport, seed: int) -> str:
    """Put the held object down where it was grasped, open, retreat; says what happened."""
    try:
        down = plan_put_back(planner, io.joint_state(), pick.plan, seed)
        if not down.ok:
            return f"still holding it (it cannot be put back: {down.error})"
        io.execute(down.trajectory)
        io.gripper(False)
        _retreat(io, planner, pick)
        return "put it back where it was"
    except CanceledError:
        raise
    except MolmoRosError as err:
        return f"putting it back failed: {err}"


def _retreat(io: Any, planner: Planner, pick: PickReport, home: PoseWaypoint | None = None) -> None:
    """Straight up to the pre-grasp height (then `home`), when the planner can say where the hand is."""
    candidate, scene = pick.plan.candidate, pick.plan.scene
    up = plan_retreat(planner, io.joint_state(), float(candidate.pregrasp[2]), scene.table_z, home=home)
    if up is not None and up.ok:
        io.execute(up.trajectory)


def _verify(
    query: str, io: Any, destination: Destination, result: ObjectResult, place: PlaceSettings
) -> tuple[bool, str]:
    """Point again: the object should be over the destination, and nothing left where it was."""
    try:
        points = io.points(query)
    except CanceledError:
        raise
    except MolmoRosError as err:
        return False, f"pointing again failed: {err.code.name}: {err}"
    there = [p for p in points if destination.holds(p)]
    behind = [p for p in points if not _apart(p, result.picked_from, place.verify_radius)]
    if behind:
        return False, f"something {query!r} is still where the object was"
    if not there:
        return False, f"no {query!r} found at the destination"
    return True, f"{len(there)} at the destination, none where it was"


def _apart(a: np.ndarray, b: np.ndarray, radius: float) -> bool:
    return float(np.linalg.norm(np.asarray(a)[:2] - np.asarray(b)[:2])) > radius


def _most_clear(points: list[np.ndarray]) -> np.ndarray:
    """The pointed object with the most room around it (seen from above): its neighbours are least in the
    fingers' way; the model's order breaks ties."""
    if len(points) == 1:
        return points[0]
    xy = np.array([p[:2] for p in points])
    gaps = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    np.fill_diagonal(gaps, np.inf)
    return points[int(np.argmax(gaps.min(axis=1)))]
