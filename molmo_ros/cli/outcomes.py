"""Ground-truth judgements of a pick or a pick-and-place in the simulation: did the named objects end up
lifted (a pick) or at the destination (a place)? One JSON-ready record per goal, for `molmo-ros pick`,
scripts/evaluate_pick.py and the end-to-end tests."""

from __future__ import annotations

import math
from typing import Any

# A place counts when the object ends within this of a given place point (m, seen from above).
PLACE_POINT_RADIUS = 0.03


def _named(query: str, labels: list[str]) -> list[int]:
    from molmo_ros.planning.targets import match_labels
    from molmo_ros.sim.catalogue import COLOURS

    return match_labels(query, labels, COLOURS)


def _code_name(code: int) -> str | None:
    from molmo_ros.errors import ErrorCode

    return None if code == 0 else ErrorCode(code).name


def _xyz(point: Any) -> list[float]:
    return [round(point.x, 4), round(point.y, 4), round(point.z, 4)]


def outcome(result: Any, state: Any, query: str) -> dict[str, Any]:
    """The JSON record of one pick: success per ground truth, objects, error code name, stage timings."""
    labels = [f"{o.colour} {o.kind}" for o in state.objects]
    hits = _named(query, labels)
    target = state.objects[hits[0]].name if hits else None
    lifted = [o.name for o in state.objects if o.grasped]
    lifted_object = lifted[0] if lifted else None
    error = _code_name(result.error.code)
    return {
        "success": bool(result.success and target is not None and lifted_object == target),
        "query": query,
        "target_object": target,
        "lifted_object": lifted_object,
        "error": error,
        "message": result.error.message,
        "timings_ms": {
            n: round(float(v), 1) for n, v in zip(result.stage_names, result.stage_ms, strict=False)
        },
        "target_point": _xyz(result.target.point),
    }


def at_destination(obj: Any, destination: Any) -> bool:
    """Whether SceneObject `obj` rests inside SceneObject `destination` (a bowl): within its rim seen from
    above, below its rim plus its own height, not held."""
    dx = obj.pose.position.x - destination.pose.position.x
    dy = obj.pose.position.y - destination.pose.position.y
    rim = 0.5 * destination.extents.x
    top = destination.pose.position.z + 0.5 * destination.extents.z
    return (
        math.hypot(dx, dy) < rim
        and obj.pose.position.z < top + 0.5 * obj.extents.z + 0.01
        and not obj.grasped
    )


def place_outcome(
    result: Any, before: Any, after: Any, query: str, place_query: str, place_point: Any = None
) -> dict[str, Any]:
    """The JSON record of one pick-and-place: success when every object the query names (per ground truth,
    before the goal) ends inside the destination the place query names, or within PLACE_POINT_RADIUS of
    `place_point` (geometry_msgs/Point) when there is no place query."""
    labels = [f"{o.colour} {o.kind}" for o in before.objects]
    destination = None
    if place_query:
        hits = _named(place_query, labels)
        destination = before.objects[hits[0]].name if hits else None
    named = [before.objects[i].name for i in _named(query, labels) if before.objects[i].name != destination]
    if named and "all" not in query.split() and len(named) > 1:
        named = named[:1]  # "the cup" in a scene of two cups: the first is the one meant (as the oracle)
    objects = {o.name: o for o in after.objects}

    def placed(name: str) -> bool:
        obj = objects[name]
        if destination is not None:
            # The destination gone from the scene (reset by someone else) holds nothing.
            return destination in objects and at_destination(obj, objects[destination])
        if place_point is None:
            return False
        return (
            math.hypot(obj.pose.position.x - place_point.x, obj.pose.position.y - place_point.y)
            < PLACE_POINT_RADIUS
        )

    moved = [n for n in objects if n != destination and placed(n)]
    return {
        "success": bool(named) and all(n in moved for n in named),
        "query": query,
        "place_query": place_query,
        "named_objects": named,
        "destination": destination,
        "moved_objects": moved,
        "wrongly_moved": [n for n in moved if n not in named],
        "action_success": bool(result.success),
        "action_moved": int(result.moved),
        "outcome": ["SUCCESS", "PARTIAL_SUCCESS", "FAILED"][result.outcome],
        "error": _code_name(result.error.code),
        "message": result.error.message,
        "objects": [
            {
                "index": o.index,
                "error": _code_name(o.error.code),
                "message": o.error.message,
                "attempts": int(o.attempts),
                "picked_from": _xyz(o.picked_from.point),
                "placed_at": _xyz(o.placed_at.point),
                "verified": bool(o.verified),
                "verification": o.verification,
            }
            for o in result.objects
        ],
        "timings_ms": {
            n: round(float(v), 1) for n, v in zip(result.stage_names, result.stage_ms, strict=False)
        },
    }
