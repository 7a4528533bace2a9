"""Error codes and the library's exceptions.

Inside the library, failures are exceptions that carry a reason and an :class:`ErrorCode`; at the ROS boundary
the nodes turn them into ``molmo_ros_interfaces/msg/Error`` values (code + message). ``ErrorCode`` mirrors the
constants of ``molmo_ros_interfaces/msg/Error.msg``; a test checks both agree.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """The constants of molmo_ros_interfaces/msg/Error.msg (see there for their meaning)."""

    OK = 0
    INVALID_REQUEST = 1
    NO_FRAME = 2
    STALE_FRAME = 3
    NO_CAMERA_INFO = 4
    UNSUPPORTED_ENCODING = 5
    NOT_FOUND = 6
    NO_DEPTH = 7
    POINT_OUTSIDE_IMAGE = 8
    PARSE_ERROR = 9
    MODEL_ERROR = 10
    MODEL_UNAVAILABLE = 11
    TIMEOUT = 12
    BUSY = 13
    TRANSFORM_FAILED = 14
    UNREACHABLE = 15
    PLANNING_FAILED = 16
    EXECUTION_FAILED = 17
    GRASP_MISSED = 18
    CANCELED = 19


class MolmoRosError(Exception):
    """Base of every library error: a reason (the message) and the code a ROS client receives."""

    code: ErrorCode = ErrorCode.INVALID_REQUEST

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class InvalidRequestError(MolmoRosError):
    code = ErrorCode.INVALID_REQUEST


class PointParseError(MolmoRosError):
    """The model's text holds a point tag that cannot be read (bad numbers, odd count, missing attribute)."""

    code = ErrorCode.PARSE_ERROR


class PointOutsideImageError(PointParseError):
    """A parsed point lies outside the image (the parser rejects it rather than clamping)."""

    code = ErrorCode.POINT_OUTSIDE_IMAGE


class CameraInfoError(MolmoRosError):
    """Intrinsics missing or unusable (zero focal length, unsupported distortion model ...)."""

    code = ErrorCode.NO_CAMERA_INFO


class DepthError(MolmoRosError):
    """No valid depth where it was needed."""

    code = ErrorCode.NO_DEPTH


class EncodingError(MolmoRosError):
    """An image encoding that is not handled, or a buffer whose size does not match its header."""

    code = ErrorCode.UNSUPPORTED_ENCODING


class TransformError(MolmoRosError):
    code = ErrorCode.TRANSFORM_FAILED


class ModelError(MolmoRosError):
    """The model failed while answering (an exception in preprocessing, forward pass or decoding)."""

    code = ErrorCode.MODEL_ERROR


class ModelUnavailableError(MolmoRosError):
    """The model cannot be used: not loaded, failed to load, or its server is unreachable."""

    code = ErrorCode.MODEL_UNAVAILABLE


class ModelTimeoutError(MolmoRosError):
    code = ErrorCode.TIMEOUT


class TrajectoryError(MolmoRosError):
    """A joint trajectory that cannot be executed (unknown joints, times not increasing, wrong sizes)."""

    code = ErrorCode.EXECUTION_FAILED


class RobotDescriptionError(MolmoRosError):
    """The robot description (example-robot-data URDF and meshes) cannot be found or converted."""
