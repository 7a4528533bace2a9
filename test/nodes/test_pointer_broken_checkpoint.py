"""A broken checkpoint at activate (a truncated model.safetensors, as a full disk or an interrupted copy leaves
it): the pointer node refuses to activate with the reason, answers MODEL_UNAVAILABLE naming it, and serves
once reconfigured with a good checkpoint; the node itself never goes down."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from lifecycle_msgs.msg import State
from rclpy.parameter import Parameter

from molmo_ros.errors import ErrorCode
from molmo_ros.nodes.pointer import SERVICE_NAME, PointerNode
from molmo_ros_interfaces.srv import Point
from support.ros import CameraRig, call, wait_for

pytestmark = pytest.mark.ros

W, H = 160, 120
K = (120.0, 120.0, 79.5, 59.5)


@pytest.fixture(scope="module")
def broken(tmp_path_factory, tiny_ckpt):
    folder = tmp_path_factory.mktemp("broken") / "ckpt"
    shutil.copytree(tiny_ckpt, folder)
    weights = folder / "model.safetensors"
    with weights.open("r+b") as f:
        f.truncate(weights.stat().st_size // 2)
    return folder


def state(node) -> int:
    return node._state_machine.current_state[0]


def test_a_truncated_checkpoint_fails_activation_with_the_reason_and_the_node_keeps_serving(
    ros_module_context, spinner, broken, tiny_ckpt
):
    import rclpy

    node = PointerNode(
        context=ros_module_context,
        parameter_overrides=[
            Parameter("backend", value="transformers"),
            Parameter("model", value=str(broken)),
            Parameter("device", value="cpu"),
            Parameter("stale_frame_s", value=0.0),
        ],
    )
    spinner.add(node)
    node.trigger_configure()
    node.trigger_activate()
    assert state(node) == State.PRIMARY_STATE_INACTIVE  # the transition failed; the node is up
    client_node = spinner.add(rclpy.create_node("broken_test_client", context=ros_module_context))
    client = client_node.create_client(Point, SERVICE_NAME)
    camera = CameraRig(client_node)
    # Not active: it does not subscribe to the camera, and the service names the failed load.
    assert node.get_subscriptions_info_by_topic("/camera/color/image_raw") == []
    answer = call(client, Point.Request(query="the red cup"))
    assert answer.error.code == ErrorCode.MODEL_UNAVAILABLE
    assert "SafetensorError" in answer.error.message and str(broken) in answer.error.message
    # Repaired by the operator: a good checkpoint, reconfigured; the same node answers.
    node.trigger_cleanup()
    assert node.set_parameters([Parameter("model", value=str(tiny_ckpt))])[0].successful
    node.trigger_configure()
    node.trigger_activate()
    assert state(node) == State.PRIMARY_STATE_ACTIVE
    stamp = camera.publish(np.full((H, W, 3), 90, np.uint8), np.full((H, W), 0.8, np.float32), "32FC1", K)
    wait_for(lambda: node.frame_stamp_ns() == stamp, what="the frame")
    answer = call(client, Point.Request(query="the red cup"), timeout_s=120)
    assert answer.error.code != ErrorCode.MODEL_UNAVAILABLE, answer.error.message
