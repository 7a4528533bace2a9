"""The pointer node behind a real OpenAI-compatible server: ``transformers serve`` with the shipped checkpoint on
a loopback port (no stub). The node must answer as the in-process backend does on the same frame, report a
killed server as MODEL_UNAVAILABLE and answer again after its restart without being restarted itself, and
report a hung server as TIMEOUT within request_timeout_s."""

from __future__ import annotations

import time

import numpy as np
import pytest
from rclpy.parameter import Parameter

from molmo_ros.errors import ErrorCode
from molmo_ros.geometry import CameraIntrinsics, RigidTransform
from molmo_ros.models import default_model_path
from molmo_ros.models.transformers_backend import TransformersPointModel
from molmo_ros.nodes.pointer import SERVICE_NAME, PointerNode
from molmo_ros.pointing.frames import RgbdFrame
from molmo_ros.pointing.query import answer_point_query
from molmo_ros_interfaces.srv import Point
from support.model_server import TransformersServer
from support.ros import CameraRig, call, wait_for

pytestmark = [pytest.mark.ros, pytest.mark.slow]

TIMEOUT_S = 3.0  # the node's request_timeout_s here
QUERY = "the red cup"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    serve = TransformersServer(default_model_path(), tmp_path_factory.mktemp("serve") / "serve.log")
    serve.start()
    yield serve
    serve.close()


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """The README's first scene (seed 12) at 640 x 480: colour, depth (m), fx fy cx cy."""
    from molmo_ros.sim.config import load_sim_config
    from molmo_ros.sim.simulator import Simulator

    sim = Simulator(load_sim_config(seed=12, cache_dir=str(tmp_path_factory.mktemp("sim"))))
    frame, k = sim.render(), sim.intrinsics
    sim.close()
    return frame.rgb, frame.depth, (k.fx, k.fy, k.cx, k.cy)


@pytest.fixture(scope="module")
def setup(ros_module_context, spinner, server, scene):
    import rclpy

    pointer = PointerNode(
        context=ros_module_context,
        parameter_overrides=[
            Parameter("backend", value="openai"),
            Parameter("model", value=str(default_model_path())),
            Parameter("server_url", value=server.url),
            Parameter("max_retries", value=0),
            Parameter("request_timeout_s", value=TIMEOUT_S),
            Parameter("stale_frame_s", value=0.0),
        ],
    )
    spinner.add(pointer)
    pointer.trigger_configure()
    pointer.trigger_activate()
    client_node = spinner.add(rclpy.create_node("serve_test_client", context=ros_module_context))
    rgb, depth, k = scene
    stamp = CameraRig(client_node).publish(rgb, depth, "32FC1", k)
    wait_for(lambda: pointer.frame_stamp_ns() == stamp, what="the frame")
    yield pointer, client_node.create_client(Point, SERVICE_NAME)


def ask(client) -> Point.Response:
    return call(client, Point.Request(query=QUERY), timeout_s=60)


def test_the_server_answers_as_the_in_process_backend_on_the_same_frame(setup, scene):
    _, client = setup
    response = ask(client)
    assert response.success, response.error.message
    served = [(p.x, p.y, p.label) for p in response.pixel_points]
    assert served and served[0][2] == "red cup"

    rgb, depth, (fx, fy, cx, cy) = scene
    intrinsics = CameraIntrinsics(fx=fx, fy=fy, cx=cx, cy=cy, width=rgb.shape[1], height=rgb.shape[0])
    frame = RgbdFrame(rgb, depth, 0, "camera", intrinsics)
    model = TransformersPointModel(default_model_path(), device="cpu")
    try:
        local = answer_point_query(model, frame, QUERY, RigidTransform.identity("camera"))
    finally:
        model.close()
    # The picture travels as a lossless PNG, so the prompt, the tokens and the greedy answer are the same.
    assert response.raw_text == local.text
    np.testing.assert_allclose(
        [(x, y) for x, y, _ in served], [(p.x, p.y) for p in local.answer.points], atol=1e-6
    )


def test_a_killed_server_is_unavailable_and_the_node_answers_again_after_its_restart(setup, server):
    pointer, client = setup
    model = pointer._model
    server.kill()
    down = ask(client)
    assert not down.success and down.error.code == ErrorCode.MODEL_UNAVAILABLE, down.error.message
    assert "connect" in down.error.message.lower() or "reach" in down.error.message.lower()
    assert ask(client).error.code == ErrorCode.MODEL_UNAVAILABLE  # still down, still serving
    server.start()
    began = time.monotonic()
    wait_for(lambda: ask(client).success, 10.0, "an answer after the restart")
    assert time.monotonic() - began < 10.0
    assert pointer._model is model  # the same node and model client: nothing was restarted


def test_a_hung_server_is_a_timeout_within_the_request_timeout(setup, server):
    _, client = setup
    server.pause()
    try:
        began = time.monotonic()
        hung = ask(client)
        elapsed = time.monotonic() - began
    finally:
        server.resume()
    assert not hung.success and hung.error.code == ErrorCode.TIMEOUT, hung.error.message
    assert TIMEOUT_S - 0.5 < elapsed < TIMEOUT_S + 5.0
    wait_for(lambda: ask(client).success, 30.0, "an answer once the server runs again")
