"""The pointer node with the transformers backend and a real Molmo2 checkpoint.

A tiny Molmo2 is taught (a few dozen optimizer steps) to answer one prompt about the exact picture this test
publishes; the checkpoint is saved and the node loads it by path like any other. The service must then return
pixel points and 3D points consistent with the depth and intrinsics the test published.
"""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.parameter import Parameter

from molmo_ros.errors import ErrorCode
from molmo_ros.models.transformers_backend import TransformersPointModel
from molmo_ros.nodes.pointer import SERVICE_NAME, PointerNode
from molmo_ros.pointing import point_prompt
from molmo_ros_interfaces.srv import Point
from support.ros import CameraRig, call, wait_for
from support.teach import save_checkpoint, teach
from training.molmo2 import tiny_checkpoint

pytestmark = pytest.mark.ros

W, H = 160, 120
K = (120.0, 120.0, 79.5, 59.5)
DEPTH_M = 0.8
# Continuous model coordinates (0-1000) -> pixels: 750/1000*160 = 120, 250/1000*120 = 30.
OPENING = '<points alt="red cup" coords="1 1 750 250">'
ANSWER = OPENING + "red cup</points>"
STATIC = [0.5, 0.0, 0.6, 0.0, 0.0, 0.0, 1.0]


def picture() -> np.ndarray:
    rgb = np.full((H, W, 3), 110, np.uint8)
    rgb[20:40, 110:130] = (220, 30, 30)
    return rgb


@pytest.fixture(scope="module")
def taught_checkpoint(tmp_path_factory):
    backend = TransformersPointModel(tiny_checkpoint(tmp_path_factory.mktemp("tiny")), device="cpu")
    lessons = {point_prompt("the red cup"): ANSWER, point_prompt("the purple elephant"): "There are none."}
    losses = teach(backend, picture(), lessons, steps=150)
    assert losses[-1] < 0.05, f"the tiny model did not learn: {losses[::10]}"
    out = tmp_path_factory.mktemp("taught")
    save_checkpoint(backend, out)
    backend.close()
    return out


@pytest.fixture(scope="module")
def setup(ros_module_context, spinner, taught_checkpoint):
    import rclpy

    pointer = PointerNode(
        context=ros_module_context,
        parameter_overrides=[
            Parameter("backend", value="transformers"),
            Parameter("model", value=str(taught_checkpoint)),
            Parameter("device", value="cpu"),
            Parameter("stale_frame_s", value=0.0),
            Parameter("static_transform", value=STATIC),
        ],
    )
    spinner.add(pointer)
    pointer.trigger_configure()
    pointer.trigger_activate()
    client_node = spinner.add(rclpy.create_node("transformers_test_client", context=ros_module_context))
    camera = CameraRig(client_node)
    stamp = camera.publish(picture(), np.full((H, W), DEPTH_M, np.float32), "32FC1", K)
    wait_for(lambda: pointer.frame_stamp_ns() == stamp, what="the frame")
    yield pointer, client_node.create_client(Point, SERVICE_NAME)


def test_taught_checkpoint_answers_in_2d_and_3d(setup):
    pointer, client = setup
    assert pointer._model.describe()["backend"] == "transformers"
    response = call(client, Point.Request(query="the red cup"), timeout_s=120)
    assert response.success, response.error.message
    # stop_after_points (config/point.yaml): the answer ends where its points do.
    assert response.raw_text == OPENING
    assert [(p.x, p.y, p.label) for p in response.pixel_points] == [(120.0, 30.0, "red cup")]
    u, v = 119.5, 29.5  # the same place as pixel-centre coordinates
    camera_point = np.array([(u - K[2]) / K[0] * DEPTH_M, (v - K[3]) / K[1] * DEPTH_M, DEPTH_M])
    p = response.points[0].point
    np.testing.assert_allclose([p.x, p.y, p.z], camera_point + np.array(STATIC[:3]), atol=1e-6)
    assert response.model_ms > 0 and response.preprocess_ms > 0


def test_stop_after_points_off_gives_the_whole_answer_from_the_next_request(setup):
    pointer, client = setup
    assert pointer.set_parameters([Parameter("stop_after_points", value=False)])[0].successful
    try:
        response = call(client, Point.Request(query="the red cup"), timeout_s=120)
    finally:
        pointer.set_parameters([Parameter("stop_after_points", value=True)])
    assert response.raw_text == ANSWER
    assert [(p.x, p.y, p.label) for p in response.pixel_points] == [(120.0, 30.0, "red cup")]


def test_taught_checkpoint_says_not_found(setup):
    _, client = setup
    response = call(client, Point.Request(query="the purple elephant"), timeout_s=120)
    assert response.error.code == ErrorCode.NOT_FOUND
    assert response.raw_text == "There are none."
