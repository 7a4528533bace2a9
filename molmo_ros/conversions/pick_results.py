"""The pick node's action results from the stage machines' reports (message packages only, no rclpy):
``/molmo/pick`` (molmo_ros_interfaces/action/Pick) and ``/molmo/pick_place`` (PickPlace)."""

from __future__ import annotations

from typing import Any

import numpy as np

from molmo_ros.errors import ErrorCode, MolmoRosError
from molmo_ros.planning.pick_place_goal import PickPlaceReport
from molmo_ros.planning.pick_task import PickReport


def point_stamped(point: np.ndarray | None, frame_id: str) -> Any:
    """geometry_msgs/PointStamped of (3,) m in `frame_id` (all zero, no frame, when `point` is None)."""
    from geometry_msgs.msg import PointStamped

    msg = PointStamped()
    if point is not None:
        msg.header.frame_id = frame_id
        msg.point.x, msg.point.y, msg.point.z = (float(v) for v in point)
    return msg


def _error(code: ErrorCode, message: str) -> Any:
    from molmo_ros_interfaces.msg import Error

    return Error(code=int(code), message=message)


def _timings(result: Any, timings: dict[str, float]) -> None:
    result.stage_names = list(timings)
    result.stage_ms = [float(v) for v in timings.values()]


def pick_result(report: PickReport, error: MolmoRosError | None, frame_id: str) -> Any:
    """The Pick result: success when `error` is None."""
    from molmo_ros_interfaces.action import Pick

    result = Pick.Result()
    result.success = error is None
    result.error = _error(ErrorCode.OK, "") if error is None else _error(error.code, str(error))
    result.target = point_stamped(report.target, frame_id)
    _timings(result, report.timings)
    return result


def pick_place_result(report: PickPlaceReport, error: MolmoRosError | None, frame_id: str) -> Any:
    """The PickPlace result: every object's outcome; success when all moved, a partial success when some.

    `error` ends the goal (cancel, destination not found, a controller failure); without one the error is
    that of the last object not moved (OK when every object moved).
    """
    from molmo_ros_interfaces.action import PickPlace
    from molmo_ros_interfaces.msg import ObjectOutcome

    result = PickPlace.Result()
    for obj in report.objects:
        result.objects.append(
            ObjectOutcome(
                index=obj.index,
                error=_error(obj.code, obj.message),
                attempts=obj.attempts,
                picked_from=point_stamped(obj.picked_from, frame_id),
                placed_at=point_stamped(obj.placed_at, frame_id),
                verified=obj.verified,
                verification=obj.verification,
            )
        )
    moved = report.moved
    result.moved = moved
    failed = [o for o in report.objects if o.code != ErrorCode.OK]
    if error is not None:
        result.error = _error(error.code, str(error))
    elif failed:
        result.error = _error(failed[-1].code, failed[-1].message)
    else:
        result.error = _error(ErrorCode.OK, "")
    result.success = error is None and not failed and moved > 0
    if result.success:
        result.outcome = PickPlace.Result.OUTCOME_SUCCESS
    elif moved:
        result.outcome = PickPlace.Result.OUTCOME_PARTIAL_SUCCESS
    else:
        result.outcome = PickPlace.Result.OUTCOME_FAILED
    if report.destination is not None:
        result.place_target = point_stamped(report.destination.point, frame_id)
    _timings(result, report.timings)
    return result
