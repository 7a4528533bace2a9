"""A burst at the real pointer node: 100 /molmo/point requests at once while the camera streams. Every request
is answered (OK, or BUSY with the queue's reason), none is lost or left hanging, and the node serves normally
afterwards. The figures under load (latency, the node's RSS) come from scripts/bench_point_service.py --burst."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from molmo_ros.errors import ErrorCode
from molmo_ros.nodes.parameters import SERVICE_QOS
from molmo_ros.nodes.pointer import SERVICE_NAME
from molmo_ros_interfaces.srv import Point
from support.ros import CameraRig, active_pointer, call, wait_for

pytestmark = pytest.mark.ros

W, H = 320, 240
K = (250.0, 250.0, 159.5, 119.5)
BURST = 100


@pytest.fixture
def setup(ros_module_context, spinner, model_server):
    import rclpy

    model_server.reset()
    model_server.answer = '<points alt="cup" coords="1 1 500 500">cup</points>'
    model_server.delay_s = 0.05  # a model that takes 50 ms an answer
    pointer = active_pointer(ros_module_context, spinner, model_server.url, stale_frame_s=2.0)
    client_node = spinner.add(rclpy.create_node("load_client", context=ros_module_context))
    # The client keeps every response too (the default QoS keeps the last 10).
    client = client_node.create_client(Point, SERVICE_NAME, qos_profile=SERVICE_QOS)
    yield pointer, CameraRig(client_node), client
    model_server.reset()


def test_a_burst_of_100_requests_is_answered_or_busy_and_none_is_lost(setup, model_server):
    pointer, camera, client = setup
    rgb, depth = np.full((H, W, 3), 100, np.uint8), np.full((H, W), 1.2, np.float32)
    stop = threading.Event()

    def stream() -> None:  # 30 Hz for the whole test
        while not stop.is_set():
            camera.publish(rgb, depth, "32FC1", K)
            time.sleep(1 / 30)

    streamer = threading.Thread(target=stream, daemon=True)
    streamer.start()
    try:
        wait_for(lambda: pointer.frame_stamp_ns() is not None, what="the first frame")
        assert client.wait_for_service(timeout_sec=10.0)
        asked = len(model_server.requests)
        futures = [client.call_async(Point.Request(query="the cup")) for _ in range(BURST)]
        wait_for(lambda: all(f.done() for f in futures), 60.0, "every answer of the burst")
        responses = [f.result() for f in futures]
        codes = [r.error.code for r in responses]
        assert set(codes) <= {ErrorCode.OK, ErrorCode.BUSY}, sorted(set(codes))
        answered = [r for r in responses if r.success]
        busy = [r for r in responses if r.error.code == ErrorCode.BUSY]
        assert len(answered) + len(busy) == BURST and answered and busy
        assert all("queue" in r.error.message for r in busy)
        # The model saw exactly the answered requests: nothing ran for a request that was turned away.
        assert len(model_server.requests) - asked == len(answered)
        assert pointer._gate.admitted == 0  # nothing left holding the model
        after = call(client, Point.Request(query="the cup"))
        assert after.success, after.error.message
    finally:
        stop.set()
        streamer.join(timeout=5)
        pointer.trigger_deactivate()
        pointer.trigger_cleanup()
