"""Joint-trajectory following: the reference the position servos track, interpolated through timed points.

Semantics follow ros2_control's joint_trajectory_controller where it matters to a client: points are
``(time_from_start, positions[, velocities])``; a trajectory starts at a given time (or now); the current
position is the implicit first point when the first waypoint lies in the future; after the last point the
reference holds the final positions. Points with velocities for every joint are interpolated with cubic
Hermite splines (C1, matching the given velocities); otherwise piecewise linearly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.interpolate import CubicHermiteSpline, make_interp_spline

from molmo_ros.errors import TrajectoryError
from molmo_ros.planning.trajectory import JointTrajectory


class TrajectoryFollower:
    """Turns the active trajectory into position references for a fixed list of controlled joints."""

    def __init__(self, joint_names: Sequence[str]) -> None:
        self.joint_names = tuple(joint_names)
        self._index = {name: i for i, name in enumerate(self.joint_names)}
        self._spline = None
        self._columns: np.ndarray | None = None
        self._start = 0.0
        self._end = 0.0
        self._hold: np.ndarray | None = None
        self._before: np.ndarray | None = None
        self._first: np.ndarray | None = None

    def start(self, trajectory: JointTrajectory, current: np.ndarray, start_time: float, now: float) -> None:
        """Replace the active trajectory.

        Args:
            trajectory: the points; its joints must be a subset of the controlled joints (others hold).
            current: (J_controlled,) positions now; the start of the motion, and the value of joints the
                trajectory does not name.
            start_time: simulated time (s) of ``time_from_start = 0``; a time in the past starts it now.
            now: the current simulated time (s).
        """
        unknown = [n for n in trajectory.joint_names if n not in self._index]
        if unknown:
            raise TrajectoryError(
                f"unknown joints {unknown}; this controller drives {list(self.joint_names)}"
            )
        columns = np.array([self._index[n] for n in trajectory.joint_names])
        current = np.asarray(current, dtype=float)
        start_time = max(start_time, now)
        times, positions = trajectory.times, trajectory.positions
        velocities = trajectory.velocities
        if times[0] > 0.0:
            # Move from where the joints are now to the first waypoint, as ros2_control does.
            times = np.concatenate([[0.0], times])
            positions = np.vstack([current[columns], positions])
            if velocities is not None:
                velocities = np.vstack([np.zeros(len(columns)), velocities])
        if times.size == 1:
            spline = None  # a single point at t=0: jump the reference there
        elif velocities is not None:
            spline = CubicHermiteSpline(times, positions, velocities, axis=0)
        else:
            spline = make_interp_spline(times, positions, k=1, axis=0)
        self._before = current.copy()
        self._hold = current.copy()
        self._hold[columns] = positions[-1]
        self._spline, self._columns = spline, columns
        self._start, self._end = start_time, start_time + float(times[-1])
        self._first = positions[0]

    def reference(self, time: float) -> np.ndarray | None:
        """Position references (J_controlled,) at simulated `time`; None when no trajectory was given."""
        if self._hold is None or self._columns is None:
            return None
        if time >= self._end:
            return self._hold
        if time < self._start:
            # Not started yet (a stamped start time in the future): stay where the joints were.
            return self._before
        ref = self._hold.copy()
        if self._spline is None:
            ref[self._columns] = self._first
        else:
            ref[self._columns] = self._spline(time - self._start)
        return ref

    def active(self, time: float) -> bool:
        """True while the trajectory is still running (before its last point's time)."""
        return self._hold is not None and time < self._end

    def hold(self, positions: np.ndarray) -> None:
        """Stop following and hold `positions` (e.g. after a reset)."""
        self._spline, self._columns = None, np.arange(len(self.joint_names))
        self._hold = np.asarray(positions, dtype=float).copy()
        self._start = self._end = 0.0
