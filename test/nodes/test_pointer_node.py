"""The pointer node, for real: rclpy nodes, DDS topics, the /molmo/point service, the model behind HTTP.

The model here is the OpenAI-compatible backend talking to a scripted server on loopback, so each test
chooses the model's answer (or failure) and checks what the service makes of it; the transformers path with
a real Molmo2 checkpoint is tested in test_pointer_transformers.py.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from rclpy.parameter import Parameter

from molmo_ros.errors import ErrorCode
from molmo_ros.nodes.pointer import SERVICE_NAME
from molmo_ros_interfaces.srv import Point
from support.ros import CameraRig, active_pointer, call, wait_for

pytestmark = pytest.mark.ros

W, H = 160, 120
K = (100.0, 100.0, 79.5, 59.5)  # fx, fy, cx, cy: pixel centres at integer coordinates
# Camera optical frame in panda_link0: turned half a turn about x, then shifted.
STATIC = [0.1, 0.2, 0.3, 1.0, 0.0, 0.0, 0.0]


def expected_in_target(u: float, v: float, z: float) -> np.ndarray:
    cam = np.array([(u - K[2]) / K[0] * z, (v - K[3]) / K[1] * z, z])
    return np.array([cam[0], -cam[1], -cam[2]]) + np.array(STATIC[:3])


@pytest.fixture(scope="module")
def pointer(ros_module_context, spinner, model_server):
    return active_pointer(
        ros_module_context, spinner, model_server.url,
        request_timeout_s=1.0, stale_frame_s=1.0, queue_size=0, static_transform=STATIC,
    )  # fmt: skip


@pytest.fixture(scope="module")
def rig(ros_module_context, spinner):
    node = spinner.add(rclpy_node(ros_module_context, "test_client"))
    camera = CameraRig(node)
    client = node.create_client(Point, SERVICE_NAME)
    yield camera, client


def rclpy_node(context, name):
    import rclpy

    return rclpy.create_node(name, context=context)


@pytest.fixture(autouse=True)
def fresh_server(model_server):
    model_server.reset()


def scene(depth_m: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[:, :, 0] = 200
    return rgb, np.full((H, W), depth_m, np.float32)


def publish_and_wait(pointer, camera, **kwargs) -> int:
    rgb, depth = kwargs.pop("frame", scene())
    stamp = camera.publish(rgb, depth, kwargs.pop("depth_encoding", "32FC1"), kwargs.pop("k", K), **kwargs)
    wait_for(lambda: pointer.frame_stamp_ns() == stamp, what="the node to receive the frame")
    return stamp


def ask(client, query: str = "the red cup", **fields) -> Point.Response:
    return call(client, Point.Request(query=query, **fields))


def reconfigure(pointer) -> None:
    """cleanup + configure + activate: the node starts from nothing (no frames, no intrinsics)."""
    pointer.trigger_deactivate()
    pointer.trigger_cleanup()
    pointer.trigger_configure()
    pointer.trigger_activate()


def test_no_frame_before_any_image(pointer, rig):
    _, client = rig
    reconfigure(pointer)
    response = ask(client)
    assert not response.success
    assert response.error.code == ErrorCode.NO_FRAME
    assert "no colour or depth image" in response.error.message
    # The request is checked before the camera: a bad query is INVALID_REQUEST even with no frame yet.
    assert ask(client, "  ").error.code == ErrorCode.INVALID_REQUEST


def test_points_in_2d_and_3d_match_the_published_depth_and_intrinsics(pointer, rig, model_server):
    camera, client = rig
    stamp = publish_and_wait(pointer, camera)
    model_server.answer = '<points alt="red cup" coords="1 1 250 750 2 500 500">red cup</points>'
    response = ask(client)
    assert response.success, response.error.message
    assert response.error.code == ErrorCode.OK
    assert response.raw_text == model_server.answer
    assert [(p.x, p.y, p.label, p.object_id) for p in response.pixel_points] == [
        (40.0, 90.0, "red cup", 1),
        (80.0, 60.0, "red cup", 2),
    ]
    # Continuous model coordinates -> pixel centres: (40, 90) is u = 39.5, v = 89.5.
    got = np.array([[p.point.x, p.point.y, p.point.z] for p in response.points])
    want = np.array([expected_in_target(39.5, 89.5, 2.0), expected_in_target(79.5, 59.5, 2.0)])
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert all(p.header.frame_id == "panda_link0" for p in response.points)
    assert list(response.depth_valid) == [True, True]
    assert response.image_stamp.sec * 1_000_000_000 + response.image_stamp.nanosec == stamp
    assert response.latency_ms >= response.preprocess_ms + response.model_ms + response.postprocess_ms
    assert response.model_ms > 0 and response.preprocess_ms > 0 and response.postprocess_ms > 0
    prompt = model_server.requests[-1]["messages"][0]["content"][1]["text"]
    assert prompt.startswith("Point to the red cup.")


def test_camera_frame_as_target_and_16uc1_depth(pointer, rig, model_server):
    camera, client = rig
    rgb, _ = scene()
    publish_and_wait(pointer, camera, frame=(rgb, np.full((H, W), 1500, np.uint16)), depth_encoding="16UC1")
    model_server.answer = '<point x="25.0" y="75.0" alt="cup">cup</point>'
    response = ask(client, target_frame=camera.frame_id)
    assert response.success, response.error.message
    p = response.points[0].point
    np.testing.assert_allclose([p.x, p.y, p.z], [(39.5 - 79.5) / 100 * 1.5, (89.5 - 59.5) / 100 * 1.5, 1.5])


def test_count_request_uses_the_count_prompt(pointer, rig, model_server):
    camera, client = rig
    publish_and_wait(pointer, camera)
    model_server.answer = (
        'Counting the <points alt="cups" coords="1 1 100 100 2 900 900">cups</points> shows a total of 2.'
    )
    response = ask(client, "cups", count=True)
    assert response.success and len(response.points) == 2
    assert model_server.requests[-1]["messages"][0]["content"][1]["text"].startswith("Count the cups")


@pytest.mark.parametrize(
    ("answer", "code", "fragment"),
    [
        ("There are none.", ErrorCode.NOT_FOUND, "not in the image"),
        ('<points alt="cup" coords="1 1 1200 500">cup</points>', ErrorCode.POINT_OUTSIDE_IMAGE, "1200"),
        ('<point x="abc" y="40" alt="cup">cup</point>', ErrorCode.PARSE_ERROR, "abc"),
    ],
)
def test_answers_that_hold_no_usable_point(pointer, rig, model_server, answer, code, fragment):
    camera, client = rig
    publish_and_wait(pointer, camera)
    model_server.answer = answer
    response = ask(client)
    assert not response.success
    assert response.error.code == code
    assert fragment in response.error.message
    assert response.raw_text == answer  # what the model said always comes back


def test_no_valid_depth_at_the_point(pointer, rig, model_server):
    camera, client = rig
    rgb, depth = scene()
    depth[40:80, 60:100] = np.nan  # a hole around the centre
    publish_and_wait(pointer, camera, frame=(rgb, depth))
    model_server.answer = '<points alt="cup" coords="1 1 500 500">cup</points>'
    response = ask(client)
    assert response.error.code == ErrorCode.NO_DEPTH
    assert list(response.depth_valid) == [False]
    assert len(response.pixel_points) == 1  # the 2D answer is still reported


@pytest.mark.parametrize(
    ("query", "fragment"),
    [("", "empty"), ("   ", "empty"), ("cup " * 100, "long"), ("red\x07cup", "control")],
)
def test_bad_queries(pointer, rig, query, fragment):
    camera, client = rig
    publish_and_wait(pointer, camera)
    response = ask(client, query)
    assert response.error.code == ErrorCode.INVALID_REQUEST
    assert fragment in response.error.message.lower()


def test_stale_frame(pointer, rig):
    camera, client = rig
    publish_and_wait(pointer, camera, age_s=5.0)
    response = ask(client)
    assert response.error.code == ErrorCode.STALE_FRAME
    assert "limit 1.00 s" in response.error.message
    assert ask(client, "").error.code == ErrorCode.INVALID_REQUEST  # not STALE_FRAME: the query comes first


def test_unsupported_encoding_then_recovery(pointer, rig, model_server):
    camera, client = rig
    rgb, depth = scene()
    stamp = camera.publish(rgb, depth, "32FC1", K, rgb_encoding="yuv422")
    wait_for(lambda: pointer.frame_stamp_ns() == stamp, what="the node to receive the frame")
    response = ask(client)
    assert response.error.code == ErrorCode.UNSUPPORTED_ENCODING
    assert "yuv422" in response.error.message
    publish_and_wait(pointer, camera)
    model_server.answer = '<points alt="cup" coords="1 1 500 500">cup</points>'
    assert ask(client).success


def test_unknown_target_frame_without_tf2(pointer, rig, model_server):
    camera, client = rig
    publish_and_wait(pointer, camera)
    model_server.answer = '<points alt="cup" coords="1 1 500 500">cup</points>'
    response = ask(client, target_frame="world")
    assert response.error.code == ErrorCode.TRANSFORM_FAILED
    assert "'world'" in response.error.message


@pytest.mark.parametrize(
    ("status", "delay_s", "code"),
    [
        (400, 0.0, ErrorCode.MODEL_ERROR),
        (503, 0.0, ErrorCode.MODEL_UNAVAILABLE),
        (200, 2.0, ErrorCode.TIMEOUT),
    ],
)
def test_model_failures_are_codes_and_the_node_keeps_serving(
    pointer, rig, model_server, status, delay_s, code
):
    camera, client = rig
    publish_and_wait(pointer, camera)
    model_server.status, model_server.delay_s = status, delay_s
    response = ask(client)
    assert response.error.code == code, response.error.message
    model_server.reset()
    model_server.answer = '<points alt="cup" coords="1 1 500 500">cup</points>'
    publish_and_wait(pointer, camera)  # the failed query may have outlived the frame's freshness
    assert ask(client).success


def test_busy_beyond_the_queue(pointer, rig, model_server):
    camera, client = rig
    publish_and_wait(pointer, camera)
    model_server.answer = '<points alt="cup" coords="1 1 500 500">cup</points>'
    model_server.delay_s = 0.6
    first = client.call_async(Point.Request(query="the cup"))
    wait_for(lambda: pointer._gate.admitted == 1, what="the first request to hold the model")
    second = ask(client)  # queue_size 0: refused at once, while the first one runs
    assert second.error.code == ErrorCode.BUSY
    wait_for(first.done, 10.0, "the first request")
    assert first.result().success


def test_camera_callbacks_are_not_blocked_by_a_running_query(pointer, rig, model_server):
    camera, client = rig
    publish_and_wait(pointer, camera)
    model_server.answer = '<points alt="cup" coords="1 1 500 500">cup</points>'
    model_server.delay_s = 0.8
    done = threading.Event()
    future = client.call_async(Point.Request(query="the cup"))
    future.add_done_callback(lambda _: done.set())
    wait_for(lambda: pointer._gate.admitted == 1, what="the query to start")
    stamp = publish_and_wait(pointer, camera)  # received while the model is still answering
    assert not done.is_set()
    assert pointer.frame_stamp_ns() == stamp
    wait_for(done.is_set, 10.0, "the query")


def test_inactive_node_takes_no_frames_refuses_then_serves_after_activation(pointer, rig, model_server):
    camera, client = rig
    publish_and_wait(pointer, camera)
    pointer.trigger_deactivate()
    # Deactivated: the camera subscriptions are gone and the frames kept are forgotten.
    wait_for(lambda: camera.rgb_pub.get_subscription_count() == 0, 5.0, "the subscriptions to go")
    assert pointer.get_subscriptions_info_by_topic("/camera/color/image_raw") == []
    assert pointer.frame_stamp_ns() is None
    camera.publish(*scene(), "32FC1", K, match_s=0.0)
    response = ask(client)
    assert response.error.code == ErrorCode.MODEL_UNAVAILABLE
    assert "not active" in response.error.message
    pointer.trigger_activate()
    assert ask(client).error.code == ErrorCode.NO_FRAME  # the frame kept before deactivation is gone
    publish_and_wait(pointer, camera)  # the new subscription takes the next one
    model_server.answer = '<points alt="cup" coords="1 1 500 500">cup</points>'
    assert ask(client).success


def test_no_camera_info_after_reconfigure(pointer, rig, model_server):
    camera, client = rig
    reconfigure(pointer)
    rgb, depth = scene()
    stamp = camera.publish(rgb, depth, "32FC1", None)
    wait_for(lambda: pointer.frame_stamp_ns() == stamp, what="the frame")
    response = ask(client)
    assert response.error.code == ErrorCode.NO_CAMERA_INFO


def test_invalid_parameter_is_refused_with_a_reason(pointer):
    result = pointer.set_parameters([Parameter("depth_window", value=4)])[0]
    assert not result.successful and "odd" in result.reason
    result = pointer.set_parameters([Parameter("backend", value="onnx")])[0]
    assert not result.successful and "backend" in result.reason
    result = pointer.set_parameters([Parameter("cpu_threads", value=-1)])[0]
    assert not result.successful and "cpu_threads" in result.reason
    assert pointer.set_parameters([Parameter("depth_window", value=7)])[0].successful
    assert pointer.set_parameters([Parameter("depth_window", value=5)])[0].successful


def test_an_accepted_depth_window_applies_to_the_next_request(pointer, rig, model_server):
    camera, client = rig
    rgb, depth = scene(depth_m=3.0)
    depth[58:62, 78:82] = 1.0  # a 4 x 4 patch at the pointed pixel (80, 60), 3 m around it
    model_server.answer = '<points alt="cup" coords="1 1 500 500">cup</points>'
    depths = []
    for window in (3, 7, 3):
        assert pointer.set_parameters([Parameter("depth_window", value=window)])[0].successful
        publish_and_wait(pointer, camera, frame=(rgb, depth))
        response = ask(client, target_frame=camera.frame_id)
        assert response.success, response.error.message
        depths.append(round(response.points[0].point.z, 3))
    # The 3 x 3 median sees only the patch; the 7 x 7 one (16 of 49 pixels on it) sees the 3 m around it.
    assert depths == [1.0, 3.0, 1.0]
    pointer.set_parameters([Parameter("depth_window", value=5)])


def test_a_parameter_read_at_configure_is_refused_while_configured_then_applies(pointer):
    result = pointer.set_parameters([Parameter("rgb_topic", value="/other/image")])[0]
    assert not result.successful and "rgb_topic" in result.reason and "configured" in result.reason
    assert pointer.get_parameter("rgb_topic").value == "/camera/color/image_raw"
    pointer.trigger_deactivate()
    pointer.trigger_cleanup()
    assert pointer.set_parameters([Parameter("rgb_topic", value="/other/image")])[0].successful
    pointer.trigger_configure()
    pointer.trigger_activate()
    try:
        subscribers = pointer.get_subscriptions_info_by_topic("/other/image")
        # The node now listens there (through its helper node: take_on_query).
        assert [s.node_name for s in subscribers] == ["molmo_pointer_camera"]
    finally:
        reconfigure_to = [Parameter("rgb_topic", value="/camera/color/image_raw")]
        pointer.trigger_deactivate()
        pointer.trigger_cleanup()
        assert pointer.set_parameters(reconfigure_to)[0].successful
        pointer.trigger_configure()
        pointer.trigger_activate()


def test_unusable_camera_info(pointer, rig):
    camera, client = rig
    publish_and_wait(pointer, camera, k=(0.0, 100.0, 79.5, 59.5))  # zero focal length
    response = ask(client)
    assert response.error.code == ErrorCode.NO_CAMERA_INFO
    assert "camera info rejected" in response.error.message


def test_the_camera_pose_source_is_a_parameter(pointer):
    from molmo_ros.capabilities import has_module

    assert pointer._tf_buffer is None or has_module("tf2_ros")  # auto: static here, where tf2_ros is absent
    pointer.trigger_deactivate()
    pointer.trigger_cleanup()
    try:
        bad = pointer.set_parameters([Parameter("transform_source", value="gps")])[0]
        assert not bad.successful and "transform_source" in bad.reason
        if not has_module("tf2_ros"):
            refused = pointer.set_parameters([Parameter("transform_source", value="tf")])[0]
            assert not refused.successful and "needs tf2_ros" in refused.reason
        assert pointer.set_parameters([Parameter("transform_source", value="static")])[0].successful
    finally:
        pointer.trigger_configure()
        pointer.trigger_activate()
    assert pointer._tf_buffer is None


def test_frames_by_callback_when_not_taken_on_query(pointer, rig, model_server):
    camera, client = rig
    pointer.trigger_deactivate()
    pointer.trigger_cleanup()
    assert pointer.set_parameters([Parameter("take_on_query", value=False)])[0].successful
    pointer.trigger_configure()
    pointer.trigger_activate()
    try:
        subscribers = pointer.get_subscriptions_info_by_topic("/camera/color/image_raw")
        assert [s.node_name for s in subscribers] == ["molmo_pointer"]  # callbacks on the node itself
        stamp = camera.publish(*scene(), "32FC1", K)
        # No query drains anything here: the callbacks alone bring the frame in.
        wait_for(lambda: pointer._sync.paired_stamp_ns == stamp, what="the callbacks to pair the frame")
        model_server.answer = '<points alt="cup" coords="1 1 500 500">cup</points>'
        assert ask(client).success
    finally:
        pointer.trigger_deactivate()
        pointer.trigger_cleanup()
        assert pointer.set_parameters([Parameter("take_on_query", value=True)])[0].successful
        pointer.trigger_configure()
        pointer.trigger_activate()


def test_taken_on_query_the_newest_frame_answers(pointer, rig, model_server):
    camera, client = rig
    first = camera.publish(*scene(), "32FC1", K)
    time.sleep(0.3)
    newest = camera.publish(*scene(), "32FC1", K)
    time.sleep(0.3)
    assert pointer._sync.paired_stamp_ns not in (first, newest)  # nothing taken before a query
    model_server.answer = '<points alt="cup" coords="1 1 500 500">cup</points>'
    response = ask(client)
    assert response.success, response.error.message
    stamp = response.image_stamp.sec * 1_000_000_000 + response.image_stamp.nanosec
    assert stamp == newest


def test_a_query_right_after_activation_waits_for_the_first_frame(pointer, rig, model_server):
    camera, client = rig
    pointer.trigger_deactivate()
    pointer.trigger_activate()  # new subscriptions, no frame kept
    model_server.answer = '<points alt="cup" coords="1 1 500 500">cup</points>'
    late = threading.Timer(0.5, lambda: camera.publish(*scene(), "32FC1", K))
    late.start()
    try:
        response = ask(client)  # sent before the frame: waits for it (first_frame_wait_s 2 s)
    finally:
        late.join()
    assert response.success, response.error.message


def test_a_query_waits_for_a_camera_info_that_comes_after_the_first_frame(pointer, rig, model_server):
    """Each camera topic is matched on its own after activation: the images may come before the CameraInfo."""
    camera, client = rig
    pointer.trigger_deactivate()
    pointer.trigger_activate()
    model_server.answer = '<points alt="cup" coords="1 1 500 500">cup</points>'
    camera.publish(*scene(), "32FC1", None)  # images only
    late = threading.Timer(0.5, lambda: camera.publish(*scene(), "32FC1", K))
    late.start()
    try:
        response = ask(client)  # the images are there, the CameraInfo is not yet: waits for it
    finally:
        late.join()
    assert response.success, response.error.message
