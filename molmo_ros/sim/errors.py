"""Exceptions raised by the simulator (subclasses of :class:`molmo_ros.errors.MolmoRosError`)."""

from __future__ import annotations

from molmo_ros.errors import ErrorCode, MolmoRosError, RobotDescriptionError, TrajectoryError

__all__ = ["RobotDescriptionError", "SceneError", "SimError", "TrajectoryError"]


class SimError(MolmoRosError):
    """Base of the simulator's errors."""

    code = ErrorCode.INVALID_REQUEST


class SceneError(SimError):
    """A scene cannot be built: bad layout request, objects that do not fit, a model that does not compile."""
