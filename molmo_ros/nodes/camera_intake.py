"""The pointer node's camera subscriptions: colour, depth and CameraInfo into a FrameSynchronizer.

With ``take_on_query`` the subscriptions belong to a helper node that no executor spins: a frame costs no
Python at all (no executor wake-up, no callback) and DDS keeps the newest messages of each stream (the QoS
depth); :meth:`CameraIntake.drain` takes them when a query comes. rclpy's executor took ~1.5 ms of CPU per
message here (13 % of a core for 64x48 RGB-D at 30 Hz, 90 messages a second), which no callback body can save.
Without it: a callback per message on the node's executor, in its own callback group.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sensor_msgs.msg import CameraInfo, Image

from molmo_ros.nodes.parameters import camera_qos
from molmo_ros.nodes.serialized import stamped
from molmo_ros.pointing.frames import FrameSynchronizer


class CameraIntake:
    """Subscribes `node` (or its helper) to the three camera topics of the parameters `p`."""

    def __init__(self, node: Any, sync: FrameSynchronizer, p: dict[str, Any], group: Any) -> None:
        import rclpy

        self._lock = threading.Lock()
        self._sync = sync
        self._host = node
        self._helper = None
        if p["take_on_query"]:
            # Without the process's global arguments: launch renames nodes with `-r __node:=NAME`, which
            # would give the helper the pointer's own name. Its topics come from the *_topic parameters.
            self._helper = rclpy.create_node(
                f"{node.get_name()}_camera",
                namespace=node.get_namespace(),
                context=node.context,
                use_global_arguments=False,
            )
        owner = self._helper or node
        # Two per stream: a colour image and its depth image may arrive back to back. Raw images: the
        # serialized bytes are kept, and only the pair a query uses is decoded.
        qos, raw = camera_qos(p["image_reliability"], depth=2), p["deserialize_on_query"]
        streams: tuple[tuple[type, str, Callable[[Any], None], bool], ...] = (
            (Image, "rgb_topic", lambda m: sync.add_rgb(stamped(m)), raw),
            (Image, "depth_topic", lambda m: sync.add_depth(stamped(m)), raw),
            (CameraInfo, "camera_info_topic", sync.set_camera_info, False),
        )
        self._subscriptions = [
            (owner.create_subscription(kind, p[topic], on, qos, callback_group=group, raw=r), on)
            for kind, topic, on, r in streams
        ]

    def drain(self) -> None:
        """Take the messages DDS holds for the subscriptions into the synchronizer (take_on_query only)."""
        if self._helper is None:
            return
        with self._lock:
            for subscription, on in self._subscriptions:
                while True:
                    with subscription.handle:
                        taken = subscription.handle.take_message(subscription.msg_type, subscription.raw)
                    if taken is None:
                        break
                    on(taken[0])

    def wait_until_ready(self, wait_s: float) -> None:
        """Take what waits; without a colour/depth pair or a CameraInfo yet, poll up to `wait_s` for both (the
        subscriptions of a node just activated match the camera only after discovery, each topic on its own)."""
        deadline = time.monotonic() + wait_s
        self.drain()
        while not self._sync.ready and time.monotonic() < deadline:
            time.sleep(0.02)
            self.drain()

    def close(self) -> None:
        """Unsubscribe (and destroy the helper node)."""
        with self._lock:
            owner = self._helper or self._host
            for subscription, _ in self._subscriptions:
                owner.destroy_subscription(subscription)
            self._subscriptions = []
            if self._helper is not None:
                self._helper.destroy_node()
                self._helper = None
