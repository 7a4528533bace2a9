"""Exceptions raised by the simulator (subclasses of :class:`molmo_ros.errors.MolmoRosError`)."""

from __future__ import annotations

from molmo_ros.errors import ErrorCode, MolmoRosError


class SimError(MolmoRosError):
    """Base of the simulator's errors."""

    code = ErrorCode.INVALID_REQUEST


class RobotDescriptionError(SimError):
    """The robot description (example-robot-data URDF and meshes) cannot be found or converted."""


class SceneError(SimError):
    """A scene cannot be built: bad layout request, objects that do not fit, a model that does not compile."""


class TrajectoryError(SimError):
    """A joint trajectory that cannot be executed (unknown joints, times not increasing, wrong sizes)."""

    code = ErrorCode.EXECUTION_FAILED


class IKError(SimError):
    """Inverse kinematics did not reach the target pose within tolerance."""

    code = ErrorCode.UNREACHABLE
