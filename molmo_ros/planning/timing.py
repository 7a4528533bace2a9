"""Time parameterisation of joint-space paths with TOPP-RA (time-optimal under velocity and acceleration
limits), sampled into the plain :class:`~molmo_ros.sim.trajectory.JointTrajectory` the controllers take."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from molmo_ros.planning.planner import PlanningError
from molmo_ros.planning.trajectory import JointTrajectory


def _dedupe(path: np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
    keep = [0]
    for i in range(1, len(path)):
        if np.max(np.abs(path[i] - path[keep[-1]])) > tolerance:
            keep.append(i)
    return path[keep]


def parameterize_segment(
    path: np.ndarray, velocity_limits: np.ndarray, acceleration_limits: np.ndarray, grid_points: int = 200
):
    """A TOPP-RA trajectory through `path` (M, J) (a cubic spline by arc length), at rest at both ends.

    Returns a toppra trajectory (callable at times, with ``.duration``), or None for a path of one point.
    Raises PlanningError when TOPP-RA finds no feasible parameterisation.
    """
    import toppra
    import toppra.algorithm
    import toppra.constraint

    path = _dedupe(np.asarray(path, dtype=float))
    if len(path) < 2:
        return None
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    spline = toppra.SplineInterpolator(arc / arc[-1], path)
    constraints = [
        toppra.constraint.JointVelocityConstraint(np.stack([-velocity_limits, velocity_limits], axis=1)),
        toppra.constraint.JointAccelerationConstraint(
            np.stack([-acceleration_limits, acceleration_limits], axis=1)
        ),
    ]
    gridpoints = np.linspace(0.0, 1.0, max(grid_points, 2 * len(path)))
    instance = toppra.algorithm.TOPPRA(
        constraints, spline, gridpoints=gridpoints, parametrizer="ParametrizeConstAccel"
    )
    result = instance.compute_trajectory(0.0, 0.0)
    if result is None:
        raise PlanningError("TOPP-RA found no time parameterisation within the joint limits")
    return result


def time_parameterize(
    joint_names: Sequence[str],
    segments: Sequence[np.ndarray],
    velocity_limits: np.ndarray,
    acceleration_limits: np.ndarray,
    rate_hz: float,
) -> tuple[JointTrajectory, list[tuple[float, float]]]:
    """Time-parameterise consecutive joint paths (each (M_i, J), at rest where one ends and the next starts)
    and sample them at `rate_hz` into one trajectory with positions and velocities.

    Returns the trajectory and each segment's (start, end) time (s).
    """
    dt = 1.0 / rate_hz
    times: list[float] = [0.0]
    positions: list[np.ndarray] = [np.asarray(segments[0][0], dtype=float)]
    velocities: list[np.ndarray] = [np.zeros(len(joint_names))]
    spans = []
    offset = 0.0
    for path in segments:
        trajectory = parameterize_segment(path, velocity_limits, acceleration_limits)
        if trajectory is None:
            spans.append((offset, offset))
            continue
        duration = float(trajectory.duration)
        count = max(int(np.ceil(duration / dt)), 1)
        local = np.linspace(0.0, duration, count + 1)[1:]
        q = np.atleast_2d(trajectory(local))
        qd = np.atleast_2d(trajectory(local, 1))
        qd[-1] = 0.0  # at rest where the segment ends
        q[-1] = path[-1]
        times.extend((offset + local).tolist())
        positions.extend(q)
        velocities.extend(qd)
        spans.append((offset, offset + duration))
        offset += duration
    if len(times) == 1:
        # Already there: one point at t = 0 holds the position.
        return JointTrajectory(tuple(joint_names), np.array([0.0]), np.array(positions), None), spans
    return (
        JointTrajectory(tuple(joint_names), np.array(times), np.array(positions), np.array(velocities)),
        spans,
    )
