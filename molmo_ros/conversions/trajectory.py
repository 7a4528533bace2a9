"""trajectory_msgs/JointTrajectory <-> :class:`molmo_ros.planning.trajectory.JointTrajectory` (the one conversion
the pick node, the simulation node and the tests share)."""

from __future__ import annotations

from typing import Any

import numpy as np

from molmo_ros.errors import TrajectoryError
from molmo_ros.planning.trajectory import JointTrajectory


def to_trajectory_msg(trajectory: JointTrajectory) -> Any:
    """The library's trajectory as trajectory_msgs/JointTrajectory (header stamp 0: start on arrival)."""
    from builtin_interfaces.msg import Duration
    from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg
    from trajectory_msgs.msg import JointTrajectoryPoint

    msg = JointTrajectoryMsg(joint_names=list(trajectory.joint_names))
    for i, t in enumerate(trajectory.times):
        nanoseconds = round(float(t) * 1e9)
        point = JointTrajectoryPoint(
            positions=[float(v) for v in trajectory.positions[i]],
            time_from_start=Duration(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000),
        )
        if trajectory.velocities is not None:
            point.velocities = [float(v) for v in trajectory.velocities[i]]
        msg.points.append(point)
    return msg


def hold_msg(names: list[str], positions: list[float]) -> Any:
    """A one-point trajectory at `positions` now: the controller holds the arm there."""
    return to_trajectory_msg(JointTrajectory(tuple(names), np.zeros(1), np.array([positions], dtype=float)))


def from_trajectory_msg(msg: Any) -> JointTrajectory:
    """A trajectory_msgs/JointTrajectory as the library's arrays (velocities only when every point has them).

    Raises :class:`molmo_ros.errors.TrajectoryError` for an empty or inconsistent message.
    """
    names = tuple(msg.joint_names)
    if not msg.points:
        raise TrajectoryError("the trajectory has no points")
    for index, point in enumerate(msg.points):
        if len(point.positions) != len(names):
            raise TrajectoryError(
                f"point {index} has {len(point.positions)} positions for {len(names)} joints {list(names)}"
            )
    times = [p.time_from_start.sec + 1e-9 * p.time_from_start.nanosec for p in msg.points]
    positions = [list(p.positions) for p in msg.points]
    with_velocities = msg.points and all(len(p.velocities) == len(names) for p in msg.points)
    velocities = [list(p.velocities) for p in msg.points] if with_velocities else None
    return JointTrajectory(
        names,
        np.array(times),
        np.array(positions, dtype=float),
        None if velocities is None else np.array(velocities, dtype=float),
    )
