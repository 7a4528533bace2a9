"""Bad input against the real pointer node, one kind per case: malformed images, unusable depth and CameraInfo,
stamps from the future and the far past, hostile queries, and model answers no camera could produce. Each
ends with its code and a message naming the problem, and the node answers a good request right after.
(The kinds already covered elsewhere are counted with these in the README: test_pointer_node.py,
test_pick_node.py, test_pick_place_e2e.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image

from molmo_ros.conversions import numpy_to_image
from molmo_ros.errors import ErrorCode
from molmo_ros.nodes.pointer import SERVICE_NAME
from molmo_ros_interfaces.srv import Point
from support.ros import CameraRig, active_pointer, call, wait_for

pytestmark = pytest.mark.ros

W, H = 160, 120
K = (100.0, 100.0, 79.5, 59.5)
GOOD = '<points alt="cup" coords="1 1 500 500">cup</points>'


@pytest.fixture(scope="module")
def pointer(ros_module_context, spinner, model_server):
    return active_pointer(
        ros_module_context, spinner, model_server.url, request_timeout_s=2.0, stale_frame_s=5.0
    )


@pytest.fixture(scope="module")
def rig(ros_module_context, spinner):
    import rclpy

    node = spinner.add(rclpy.create_node("bad_input_client", context=ros_module_context))
    return CameraRig(node), node.create_client(Point, SERVICE_NAME)


@pytest.fixture(autouse=True)
def fresh_server(model_server):
    model_server.reset()
    model_server.answer = GOOD


def colour(rgb: np.ndarray | None = None) -> Image:
    return numpy_to_image(
        np.full((H, W, 3), 120, np.uint8) if rgb is None else rgb, "rgb8", msg_factory=Image
    )


def depth(values: np.ndarray | None = None) -> Image:
    return numpy_to_image(
        np.full((H, W), 1.5, np.float32) if values is None else values, "32FC1", msg_factory=Image
    )


def info(k=K, width: int = W, height: int = H) -> CameraInfo:
    fx, fy, cx, cy = k
    msg = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    msg.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    msg.d = [0.0] * 5
    return msg


def publish(pointer, camera: CameraRig, rgb_msg: Image, depth_msg: Image, info_msg: CameraInfo, age_s=0.0):
    """Publish one frame as given (stamped `age_s` ago; negative: in the future) and wait until it is paired."""
    stamp = camera.stamp(age_s)
    for msg in (rgb_msg, depth_msg, info_msg):
        msg.header.stamp, msg.header.frame_id = stamp, camera.frame_id
    camera.info_pub.publish(info_msg)
    camera.rgb_pub.publish(rgb_msg)
    camera.depth_pub.publish(depth_msg)
    ns = stamp.sec * 1_000_000_000 + stamp.nanosec
    wait_for(lambda: pointer.frame_stamp_ns() == ns, what="the node to pair the frame")


def ask(client, query: str = "the cup") -> Point.Response:
    return call(client, Point.Request(query=query))


def still_serving(pointer, camera, client) -> None:
    publish(pointer, camera, colour(), depth(), info())
    response = ask(client)
    assert response.success, response.error.message


def zero_width() -> Image:
    msg = colour()
    msg.width, msg.step, msg.data = 0, 0, []
    return msg


def short_step() -> Image:
    msg = colour()
    msg.step = W  # a row of rgb8 needs 3 * W bytes
    return msg


def truncated() -> Image:
    msg = colour()
    msg.data = msg.data[: len(msg.data) // 2]
    return msg


def encoding(name: str) -> Image:
    msg = colour()
    msg.encoding = name
    return msg


FRAMES = {
    # kind: (colour message, depth message, camera info, code, words the message holds)
    "image of zero width": (zero_width, depth, info, ErrorCode.UNSUPPORTED_ENCODING, "colour image"),
    "step shorter than a row": (short_step, depth, info, ErrorCode.UNSUPPORTED_ENCODING, "step"),
    "data shorter than height x step": (truncated, depth, info, ErrorCode.UNSUPPORTED_ENCODING, "data"),
    "colour encoding 8UC3 (no channel order)": (
        lambda: encoding("8UC3"), depth, info, ErrorCode.UNSUPPORTED_ENCODING, "8UC3"),
    "colour encoding bayer_rggb8": (
        lambda: encoding("bayer_rggb8"), depth, info, ErrorCode.UNSUPPORTED_ENCODING, "bayer_rggb8"),
    "depth of another size than colour": (
        colour, lambda: depth(np.full((H // 2, W // 2), 1.5, np.float32)), info, ErrorCode.INVALID_REQUEST,
        "does not match"),
    "depth all NaN": (colour, lambda: depth(np.full((H, W), np.nan, np.float32)), info, ErrorCode.NO_DEPTH, "depth"),
    "depth all 0": (colour, lambda: depth(np.zeros((H, W), np.float32)), info, ErrorCode.NO_DEPTH, "depth"),
    "depth negative": (colour, lambda: depth(np.full((H, W), -1.0, np.float32)), info, ErrorCode.NO_DEPTH, "depth"),
    "CameraInfo with NaN focal length": (
        colour, depth, lambda: info((float("nan"), 100.0, 79.5, 59.5)), ErrorCode.NO_CAMERA_INFO, "camera info"),
    "CameraInfo of another size than the image": (
        colour, depth, lambda: info(width=2 * W, height=2 * H), ErrorCode.NO_CAMERA_INFO, "camera info"),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(FRAMES))
def test_a_bad_frame_is_a_code_and_the_node_keeps_serving(pointer, rig, kind):
    camera, client = rig
    make_colour, make_depth, make_info, code, words = FRAMES[kind]
    publish(pointer, camera, make_colour(), make_depth(), make_info())
    response = ask(client)
    assert not response.success
    assert response.error.code == code, (kind, response.error.message)
    assert words.lower() in response.error.message.lower(), (kind, response.error.message)
    still_serving(pointer, camera, client)


@pytest.mark.parametrize(
    ("kind", "age_s", "words"), [("future", -60.0, "future"), ("far past", 3600.0, "old")]
)
def test_frames_stamped_in_the_future_or_the_far_past_are_refused(pointer, rig, kind, age_s, words):
    camera, client = rig
    publish(pointer, camera, colour(), depth(), info(), age_s=age_s)
    response = ask(client)
    assert response.error.code == ErrorCode.STALE_FRAME, (kind, response.error.message)
    assert words in response.error.message, response.error.message
    still_serving(pointer, camera, client)


@pytest.mark.parametrize(
    ("query", "words"),
    [("cup " * 2500, "characters long"), ("\ufeff\u2028cup", "control"), ("red\x85cup", "control")],
    ids=["10,000 characters", "line separator", "C1 control character"],
)
def test_hostile_queries_are_invalid_requests(pointer, rig, model_server, query, words):
    camera, client = rig
    publish(pointer, camera, colour(), depth(), info())
    asked = len(model_server.requests)
    response = ask(client, query)
    assert response.error.code == ErrorCode.INVALID_REQUEST and words in response.error.message
    assert len(model_server.requests) == asked  # refused before the model is asked
    still_serving(pointer, camera, client)


def many_points(n: int) -> str:
    coords = " ".join(f"{i + 1} {100 + i % 800} {100 + (i * 7) % 800}" for i in range(n))
    return f'<points alt="cups" coords="1 {coords}">cups</points>'


ANSWERS = {
    # kind: (the model's answer, code, words the message holds)
    "10,000 points": (many_points(10_000), ErrorCode.PARSE_ERROR, "points"),
    "a coordinate of 1,000,000": ('<points alt="cup" coords="1 1 1000000 500">cup</points>',
                                  ErrorCode.POINT_OUTSIDE_IMAGE, "1000000"),
    "NaN in the coordinates": ('<point x="nan" y="40" alt="cup">cup</point>', ErrorCode.PARSE_ERROR, "nan"),
    "an empty answer": ("", ErrorCode.PARSE_ERROR, "answer"),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(ANSWERS))
def test_answers_no_camera_could_produce_are_codes(pointer, rig, model_server, kind):
    camera, client = rig
    answer, code, words = ANSWERS[kind]
    publish(pointer, camera, colour(), depth(), info())
    model_server.answer = answer
    response = ask(client)
    assert not response.success
    assert response.error.code == code, (kind, response.error.message[:300])
    assert words.lower() in response.error.message.lower(), (kind, response.error.message[:300])
    assert len(response.error.message) < 1000  # a bounded message, not the whole answer echoed
    model_server.answer = GOOD
    still_serving(pointer, camera, client)
