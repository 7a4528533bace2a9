"""Helpers for tests with real ROS 2 nodes: a scripted OpenAI-compatible model server, an executor spinning
in the background, service calls with timeouts and a camera publisher. All traffic stays on this machine
(loopback HTTP, localhost DDS). Fixtures that use these live in test/nodes/conftest.py."""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from molmo_ros.conversions import numpy_to_image
from molmo_ros.nodes.executor import SteadyExecutor
from support.waiting import wait_for


class ScriptedModelServer:
    """An HTTP server speaking the chat-completions API whose answers the test sets.

    answer: the text of the next answers. status: HTTP status to reply with (200 = answer). delay_s: wait
    before replying. requests: the JSON bodies received.
    """

    def __init__(self) -> None:
        self.answer = "There are none."
        self.status = 200
        self.delay_s = 0.0
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                server.requests.append(json.loads(self.rfile.read(length)))
                time.sleep(server.delay_s)
                if server.status != 200:
                    body = json.dumps({"error": {"message": "scripted failure"}}).encode()
                else:
                    body = json.dumps({"choices": [{"message": {"content": server.answer}}]}).encode()
                try:
                    self.send_response(server.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def reset(self) -> None:
        self.answer, self.status, self.delay_s = "There are none.", 200, 0.0

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class Spinner:
    """A multi-threaded executor spinning in a background thread; nodes are added as tests need them.

    The spinner owns the nodes it spins: close() stops the executor, waits for its thread, and only then
    destroys them (destroying a node while an executor waits on it can crash the process).
    """

    def __init__(self, context: object, threads: int = 6) -> None:
        self.executor = SteadyExecutor(num_threads=threads, context=context)
        self._nodes: list[object] = []
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def add(self, node: object) -> object:
        self.executor.add_node(node)
        self._nodes.append(node)
        return node

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=10)
        self._thread.join(timeout=10)
        for node in reversed(self._nodes):
            node.destroy_node()


def call(client: object, request: object, timeout_s: float = 30.0) -> object:
    """Call a service from a client whose node the spinner spins; return the response."""
    assert client.wait_for_service(timeout_sec=10.0), f"service {client.srv_name} not available"
    future = client.call_async(request)
    wait_for(future.done, timeout_s, f"a response from {client.srv_name}")
    return future.result()


class CameraRig:
    """Publishes colour, depth and CameraInfo as a camera driver does, with the QoS the pointer node
    subscribes with by default (reliable; config/point.yaml)."""

    def __init__(self, node: object, frame_id: str = "camera_color_optical_frame") -> None:
        self.node = node
        self.frame_id = frame_id
        qos = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
        self.rgb_pub = node.create_publisher(Image, "/camera/color/image_raw", qos)
        self.depth_pub = node.create_publisher(Image, "/camera/depth/image_raw", qos)
        self.info_pub = node.create_publisher(CameraInfo, "/camera/camera_info", qos)

    def stamp(self, age_s: float = 0.0) -> object:
        now = self.node.get_clock().now().nanoseconds - int(age_s * 1e9)
        return rclpy.time.Time(nanoseconds=now).to_msg()

    def publish(
        self,
        rgb: np.ndarray,
        depth: np.ndarray,
        depth_encoding: str,
        k: tuple[float, float, float, float] | None,
        age_s: float = 0.0,
        rgb_encoding: str = "rgb8",
        match_s: float = 5.0,
    ) -> int:
        """Publish one frame (and CameraInfo with fx, fy, cx, cy = k unless None); return its stamp (ns).
        Waits up to `match_s` for the colour topic's subscriber first (the pointer subscribes on activate, and
        a message published before discovery matched it is lost)."""
        deadline = time.monotonic() + match_s
        while self.rgb_pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        stamp = self.stamp(age_s)
        colour = numpy_to_image(rgb, "rgb8", msg_factory=Image)
        colour.encoding = rgb_encoding
        depth_msg = numpy_to_image(depth, depth_encoding, msg_factory=Image)
        for msg in (colour, depth_msg):
            msg.header.stamp, msg.header.frame_id = stamp, self.frame_id
        if k is not None:
            fx, fy, cx, cy = k
            info = CameraInfo(width=rgb.shape[1], height=rgb.shape[0], distortion_model="plumb_bob")
            info.header.stamp, info.header.frame_id = stamp, self.frame_id
            info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
            info.d = [0.0] * 5
            self.info_pub.publish(info)
        self.rgb_pub.publish(colour)
        self.depth_pub.publish(depth_msg)
        return stamp.sec * 1_000_000_000 + stamp.nanosec


@contextlib.contextmanager
def pick_session(
    cache_dir: str, seed: int, oracle: bool, domain_ids: tuple[int, int], layout: str = "mixed"
) -> Iterator[Any]:
    """A :class:`molmo_ros.cli.session.PickSession` on the seeded 320x240 scene with the fast planner preset, in
    its own rclpy context on a random domain id from ``domain_ids``; with ``oracle=False`` the pointer node is
    activated (its model loaded) before the session is handed over."""
    from molmo_ros.cli.session import PickSession

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=random.randint(*domain_ids))
    sim = {
        "seed": seed,
        "layout": layout,
        "image_width": 320,
        "image_height": 240,
        "real_time_factor": 0.0,
        "cache_dir": cache_dir,
    }
    session = PickSession(sim, {"planner_preset": "fast"}, oracle=oracle, context=context, record=False)
    try:
        session.wait_for_camera()
        if not oracle:
            session.activate_pointer()
        yield session
    finally:
        session.close()
        rclpy.shutdown(context=context)


def active_pointer(context: object, spinner: Spinner, server_url: str, **parameters: object) -> Any:
    """A pointer node on the OpenAI-compatible backend at `server_url` (no retries), configured and activated
    in `spinner`; `parameters` override config/point.yaml's further."""
    from rclpy.parameter import Parameter

    from molmo_ros.nodes.pointer import PointerNode

    values = {"backend": "openai", "model": "allenai/Molmo2-8B", "server_url": server_url, "max_retries": 0}
    values.update(parameters)
    node = PointerNode(
        context=context, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()]
    )
    spinner.add(node)
    node.trigger_configure()
    node.trigger_activate()
    return node
