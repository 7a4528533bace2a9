"""answer_point_query: one question on one RGB-D frame, with a scripted model (plain Python)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from molmo_ros.errors import ErrorCode, InvalidRequestError
from molmo_ros.geometry import CameraIntrinsics, RigidTransform
from molmo_ros.models.base import PointModel, RawAnswer
from molmo_ros.pointing.frames import RgbdFrame
from molmo_ros.pointing.query import DepthSettings, answer_point_query

W, H = 200, 100
K = CameraIntrinsics(fx=100.0, fy=100.0, cx=99.5, cy=49.5, width=W, height=H)
CAMERA = "camera_optical"


class ScriptedModel(PointModel):
    """Answers every prompt with `text` and remembers the prompts."""

    backend = "scripted"

    def __init__(self, text: str) -> None:
        super().__init__("scripted", 32)
        self.text = text
        self.prompts: list[str] = []
        self.stops: list[bool] = []

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend}

    def _generate(self, image: np.ndarray, prompt: str, stop_after_points: bool) -> RawAnswer:
        self.prompts.append(prompt)
        self.stops.append(stop_after_points)
        return RawAnswer(self.text, 1.0, 2.0)

    def _release(self) -> None:
        pass


def frame(depth_m: float | np.ndarray = 2.0) -> RgbdFrame:
    depth = np.broadcast_to(np.asarray(depth_m, np.float32), (H, W)).copy()
    return RgbdFrame(np.zeros((H, W, 3), np.uint8), depth, 123, CAMERA, K)


IDENTITY = RigidTransform.identity(CAMERA)
# The camera 1 m above the base, looking down (optical z = -base z).
ABOVE = RigidTransform(Rotation.from_euler("x", np.pi), np.array([0.0, 0.0, 1.0]), "base", CAMERA)


def test_points_are_lifted_with_the_depth_at_the_pixel_centres():
    model = ScriptedModel('<points alt="cup" coords="1 1 500 500 2 250 250">cup</points>')
    result = answer_point_query(model, frame(), "the cup", IDENTITY)
    assert result.success and result.text == model.text
    assert [(p.x, p.y) for p in result.pixel_points] == [(100.0, 50.0), (50.0, 25.0)]
    # (100, 50) in continuous image coordinates is the pixel centre (99.5, 49.5): the optical axis.
    np.testing.assert_allclose(result.points_3d[0], [0.0, 0.0, 2.0], atol=1e-9)
    np.testing.assert_allclose(result.points_3d[1], [(49.5 - 99.5) / 100 * 2, (24.5 - 49.5) / 100 * 2, 2.0])
    assert result.depth_valid.tolist() == [True, True]
    assert result.stamp_ns == 123 and result.target_frame == CAMERA
    assert set(result.timings_ms) == {"preprocess", "model", "parse", "lift"}
    assert model.prompts[0].startswith("Point to the cup")


def test_points_go_into_the_target_frame():
    model = ScriptedModel('<points alt="cup" coords="1 1 500 500">cup</points>')
    result = answer_point_query(model, frame(0.8), "the cup", ABOVE)
    np.testing.assert_allclose(result.points_3d[0], [0.0, 0.0, 0.2], atol=1e-9)
    assert result.target_frame == "base"


def test_a_point_without_depth_is_reported_and_one_with_depth_still_succeeds():
    depth = np.full((H, W), 2.0, np.float32)
    depth[40:60, 90:110] = np.nan  # a hole around the centre
    model = ScriptedModel('<points alt="cup" coords="1 1 500 500 2 250 250">cup</points>')
    result = answer_point_query(model, frame(depth), "the cup", IDENTITY, depth=DepthSettings(window=5))
    assert result.success and result.depth_valid.tolist() == [False, True]
    assert np.all(result.points_3d[0] == 0)


def test_no_depth_at_any_point_is_no_depth_with_the_2d_answer_kept():
    model = ScriptedModel('<points alt="cup" coords="1 1 500 500">cup</points>')
    result = answer_point_query(model, frame(np.nan), "the cup", IDENTITY)
    assert result.error.code == ErrorCode.NO_DEPTH and len(result.pixel_points) == 1
    out_of_range = answer_point_query(
        model, frame(50.0), "the cup", IDENTITY, depth=DepthSettings(max_m=10.0)
    )
    assert out_of_range.error.code == ErrorCode.NO_DEPTH


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("There are none.", ErrorCode.NOT_FOUND),
        ("A cup, somewhere.", ErrorCode.NOT_FOUND),
        ('<points alt="cup" coords="1 1 5x0 500">cup</points>', ErrorCode.PARSE_ERROR),
        ('<points alt="cup" coords="1 1 1500 500">cup</points>', ErrorCode.POINT_OUTSIDE_IMAGE),
    ],
)
def test_answers_without_a_usable_point_keep_the_text(text, code):
    result = answer_point_query(ScriptedModel(text), frame(), "the cup", IDENTITY)
    assert not result.success and result.error.code == code
    assert result.text == text and result.points_3d.shape == (len(result.pixel_points), 3)


def test_a_count_request_uses_the_count_prompt():
    model = ScriptedModel(
        'Counting the <points alt="cups" coords="1 1 100 100 2 900 900">cups</points> shows a total of 2.'
    )
    result = answer_point_query(model, frame(), "cups", IDENTITY, count=True)
    assert result.success and len(result.pixel_points) == 2
    assert model.prompts[0].startswith("Count the cups")


def test_bad_requests_are_refused_before_the_model_runs():
    model = ScriptedModel('<points alt="cup" coords="1 1 500 500">cup</points>')
    bad_depth = RgbdFrame(np.zeros((H, W, 3), np.uint8), np.ones((H // 2, W), np.float32), 1, CAMERA, K)
    no_info = RgbdFrame(np.zeros((H, W, 3), np.uint8), np.ones((H, W), np.float32), 1, CAMERA, None)
    cases = [
        (frame(), "   ", IDENTITY, "empty"),
        (frame(), "cup " * 80, IDENTITY, "long"),
        (bad_depth, "the cup", IDENTITY, "does not match"),
        (no_info, "the cup", IDENTITY, "intrinsics"),
        (frame(), "the cup", RigidTransform.identity("other_camera"), "transform is for frame"),
    ]
    for rgbd, query, transform, words in cases:
        with pytest.raises(InvalidRequestError, match=words):
            answer_point_query(model, rgbd, query, transform)
    assert model.prompts == []


def test_point_queries_stop_after_the_points_when_asked_and_counting_queries_never_do():
    model = ScriptedModel('<points alt="cup" coords="1 1 500 500">')  # an answer stopped after its points
    result = answer_point_query(model, frame(), "the cup", IDENTITY, stop_after_points=True)
    assert result.success and [(p.x, p.y, p.label) for p in result.pixel_points] == [(100.0, 50.0, "cup")]
    answer_point_query(model, frame(), "the cups", IDENTITY, count=True, stop_after_points=True)
    answer_point_query(model, frame(), "the cup", IDENTITY)
    assert model.stops == [True, False, False]
