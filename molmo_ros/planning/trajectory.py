"""The planners' output and the controllers' input: a joint trajectory in plain arrays (no ROS, no simulator).

The same content as ``trajectory_msgs/JointTrajectory``; :mod:`molmo_ros.conversions.trajectory` converts
between the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from molmo_ros.errors import TrajectoryError


@dataclass(frozen=True)
class JointTrajectory:
    """A trajectory in plain arrays (the content of a ``trajectory_msgs/JointTrajectory``).

    joint_names: J names; times: (N,) seconds from the start, strictly increasing, >= 0; positions: (N, J)
    rad or m; velocities: (N, J) or None.
    """

    joint_names: tuple[str, ...]
    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray | None = None

    def __post_init__(self) -> None:
        times = np.asarray(self.times, dtype=float).reshape(-1)
        positions = np.asarray(self.positions, dtype=float)
        n, j = times.size, len(self.joint_names)
        if n == 0:
            raise TrajectoryError("the trajectory has no points")
        if len(set(self.joint_names)) != j:
            raise TrajectoryError(f"joint names repeat: {list(self.joint_names)}")
        if positions.shape != (n, j):
            raise TrajectoryError(
                f"positions must be ({n}, {j}) for {n} points and {j} joints, got {positions.shape}"
            )
        if not np.all(np.isfinite(times)) or not np.all(np.isfinite(positions)):
            raise TrajectoryError("the trajectory has non-finite times or positions")
        if times[0] < 0.0 or np.any(np.diff(times) <= 0.0):
            raise TrajectoryError(
                f"time_from_start must be >= 0 and strictly increasing, got {times.tolist()}"
            )
        velocities = self.velocities
        if velocities is not None:
            velocities = np.asarray(velocities, dtype=float)
            if velocities.shape != (n, j) or not np.all(np.isfinite(velocities)):
                raise TrajectoryError(f"velocities must be finite and ({n}, {j}), got {velocities.shape}")
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "velocities", velocities)

    @property
    def duration(self) -> float:
        return float(self.times[-1])
