"""One point query on one RGB-D frame: prompt -> model text -> pixel points -> 3D points in a target frame.

Plain Python; the pointer node and the `molmo-ros point` CLI both call :func:`answer_point_query`. Failures
before the model has answered (bad query, model down) raise; failures that leave a model answer to report
(nothing found, unreadable text, no depth) come back in :attr:`PointQueryResult.error` together with the
text, so the caller can always show what the model said.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from molmo_ros.errors import DepthError, ErrorCode, InvalidRequestError, MolmoRosError, PointParseError
from molmo_ros.geometry import CameraIntrinsics, RigidTransform, deproject, robust_depths
from molmo_ros.models.base import PointModel
from molmo_ros.pointing import (
    PixelPoint,
    PointAnswer,
    count_prompt,
    parse_points,
    point_prompt,
    validate_query,
)
from molmo_ros.pointing.frames import RgbdFrame


@dataclass(frozen=True)
class DepthSettings:
    """How depth is read around a point.

    window: side of the square window, pixels (odd). min_m, max_m: accepted depth range, metres.
    """

    window: int = 5
    min_m: float = 0.05
    max_m: float = 10.0


@dataclass(frozen=True)
class PointQueryResult:
    """The outcome of one query.

    text: the model's raw answer ("" if it never answered). answer: the parsed answer (None when the text
    could not be parsed). points_3d: (N, 3) float64 metres in `target_frame`, parallel to answer.points
    (zeros where depth_valid is False). depth_valid: (N,) bool. error: None on success, else the reason
    (NOT_FOUND, PARSE_ERROR, POINT_OUTSIDE_IMAGE, NO_DEPTH). timings_ms: preprocess, model, parse, lift.
    """

    text: str
    answer: PointAnswer | None
    points_3d: np.ndarray
    depth_valid: np.ndarray
    target_frame: str
    stamp_ns: int
    error: MolmoRosError | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.error is None

    @property
    def pixel_points(self) -> tuple[PixelPoint, ...]:
        return self.answer.points if self.answer is not None else ()


def build_prompt(query: str, count: bool, max_chars: int) -> str:
    """The model prompt for a user query; InvalidRequestError for an empty or over-long query."""
    query = validate_query(query, max_chars=max_chars)
    return count_prompt(query) if count else point_prompt(query)


def lift_points(
    points: tuple[PixelPoint, ...],
    depth_m: np.ndarray,
    intrinsics: CameraIntrinsics,
    camera_to_target: RigidTransform,
    depth: DepthSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """3D points (N, 3) in camera_to_target's parent frame and a (N,) validity mask for pixel points.

    The models' coordinates are continuous with the origin at the image's top-left corner; the geometry
    uses pixel centres at integer coordinates, hence the half-pixel shift.
    """
    if not points:
        return np.zeros((0, 3)), np.zeros(0, bool)
    uv = np.array([(p.x - 0.5, p.y - 0.5) for p in points], dtype=np.float64)
    z, valid = robust_depths(depth_m, uv, window=depth.window, min_m=depth.min_m, max_m=depth.max_m)
    xyz = np.zeros((len(points), 3))
    if valid.any():
        cam = deproject(intrinsics, uv[valid, 0], uv[valid, 1], z[valid])
        xyz[valid] = camera_to_target.apply(cam)
    return xyz, valid


def answer_point_query(
    model: PointModel,
    frame: RgbdFrame,
    query: str,
    camera_to_target: RigidTransform,
    *,
    count: bool = False,
    depth: DepthSettings | None = None,
    max_query_chars: int = 200,
    max_points: int = 100,
    stop_after_points: bool = False,
) -> PointQueryResult:
    """Ask `model` about `frame` and lift its points into `camera_to_target.parent_frame`.

    Raises InvalidRequestError (query, frame mismatch) and the model's errors (MODEL_ERROR,
    MODEL_UNAVAILABLE, TIMEOUT); other failures are returned in the result's `error`: an empty answer or one
    with more than `max_points` points is a PARSE_ERROR (no camera frame needs more; a runaway answer would
    otherwise cost a lift per point and a response as large). `stop_after_points`: the model's answer to a
    point query (never a counting one, whose total follows the tag) ends where its coordinates do
    (:meth:`PointModel.generate`).
    """
    depth = depth or DepthSettings()
    prompt = build_prompt(query, count, max_query_chars)
    intrinsics = frame.intrinsics
    if not isinstance(intrinsics, CameraIntrinsics):
        raise InvalidRequestError("the frame has no camera intrinsics")
    height, width = frame.rgb.shape[:2]
    intrinsics.require_image_size(width, height)
    if frame.depth_m.shape != (height, width):
        raise InvalidRequestError(
            f"depth image {frame.depth_m.shape[1]}x{frame.depth_m.shape[0]} does not match "
            f"colour image {width}x{height}"
        )
    if camera_to_target.child_frame != frame.frame_id:
        raise InvalidRequestError(
            f"transform is for frame {camera_to_target.child_frame!r}, the frame is {frame.frame_id!r}"
        )

    raw = model.generate(frame.rgb, prompt, stop_after_points=stop_after_points and not count)
    timings = {"preprocess": raw.preprocess_ms, "model": raw.model_ms}
    empty = np.zeros((0, 3)), np.zeros(0, bool)

    def result(answer, xyz_valid, error=None) -> PointQueryResult:
        return PointQueryResult(
            raw.text, answer, *xyz_valid, camera_to_target.parent_frame, frame.stamp_ns, error, timings
        )

    start = time.perf_counter()
    if not raw.text.strip():
        return result(None, empty, PointParseError("the model's answer is empty"))
    try:
        answer = parse_points(raw.text, width, height)
    except PointParseError as err:
        timings["parse"] = (time.perf_counter() - start) * 1e3
        return result(None, empty, err)
    timings["parse"] = (time.perf_counter() - start) * 1e3
    if len(answer.points) > max_points:
        error = PointParseError(f"the answer holds {len(answer.points)} points; the limit is {max_points}")
        return result(None, empty, error)
    if not answer.points:
        why = "the model says it is not in the image" if answer.absent else "the answer holds no point"
        return result(answer, empty, MolmoRosError(f"{query!r} not found: {why}", ErrorCode.NOT_FOUND))

    start = time.perf_counter()
    xyz, valid = lift_points(answer.points, frame.depth_m, intrinsics, camera_to_target, depth)
    timings["lift"] = (time.perf_counter() - start) * 1e3
    error = None
    if not valid.any():
        where = ", ".join(f"({p.x:.0f}, {p.y:.0f})" for p in answer.points)
        error = DepthError(f"no valid depth within {depth.window} px of any returned point: {where}")
    return result(answer, (xyz, valid), error)
