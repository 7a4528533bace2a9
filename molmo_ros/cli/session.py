"""A pick session: the simulation bridge, a point source and the pick node as real ROS 2 nodes in this process,
with a client for their actions and services (`molmo-ros pick`, scripts/evaluate_pick.py and the end-to-end
tests use it), and the seeded queries they ask."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

# The motion GIF keeps a frame every GIF_PERIOD_S of simulated time. While the arm moves nobody points, so the
# simulation renders only that often then (camera_rate_moving): every render is wall time in a run that
# waits for each frame.
GIF_PERIOD_S = 0.2


def scene_query(labels: list[str], seed: int) -> str:
    """A query naming one object of the scene, drawn from the seed ("the red cup")."""
    rng = np.random.default_rng(seed + 7919)
    return f"the {labels[int(rng.integers(len(labels)))]}"


def seed_with_object(query: str, place: str = "", layout: str = "mixed", tries: int = 500) -> int:
    """The first seed from config/sim.yaml's on whose `layout` scene has an object the query names (and one
    the place query names; the file's seed when none has): `molmo-ros pick "the red cup"` without --seed finds
    a scene with a red cup."""
    from molmo_ros.planning.targets import match_labels
    from molmo_ros.sim.catalogue import COLOURS
    from molmo_ros.sim.config import load_sim_config
    from molmo_ros.sim.layout import sample_layout

    config = load_sim_config(layout=layout)
    for seed in range(config.seed, config.seed + tries):
        labels = [o.label for o in sample_layout(seed, config).objects]
        if match_labels(query, labels, COLOURS) and (not place or match_labels(place, labels, COLOURS)):
            return seed
    return config.seed


class PickSession:
    """The three nodes and a client on one executor in this process (see the module docstring).

    Args:
        sim_overrides, pick_overrides, pointer_overrides: parameter values over config/*.yaml.
        oracle: ground-truth point source instead of the pointer node.
        context: an rclpy context (tests pass their own); None: the default, initialised here.
    """

    def __init__(
        self,
        sim_overrides: dict[str, Any],
        pick_overrides: dict[str, Any] | None = None,
        pointer_overrides: dict[str, Any] | None = None,
        oracle: bool = True,
        context: Any = None,
        record: bool = True,
    ) -> None:
        import rclpy
        from rclpy.action import ActionClient
        from rclpy.parameter import Parameter
        from sensor_msgs.msg import Image

        from molmo_ros.bringup.graph import pick_graph
        from molmo_ros.nodes.executor import SteadyExecutor
        from molmo_ros.nodes.pick import ACTION_NAME, PICK_PLACE_ACTION
        from molmo_ros_interfaces.action import Pick, PickPlace
        from molmo_ros_interfaces.srv import GetSceneState, ResetScene

        def params(values: dict[str, Any]) -> list[Parameter]:
            return [Parameter(k, value=v) for k, v in values.items()]

        self._owns_context = context is None
        if context is None:
            rclpy.init()
            context = rclpy.get_default_context()
        self.context = context
        sim_time = {"use_sim_time": True}
        sim_overrides = {"camera_rate_moving": 1.0 / GIF_PERIOD_S, **sim_overrides}
        # The launch file's graph; only the pointer's autostart differs (activate_pointer loads the model).
        specs = pick_graph(
            "mujoco",
            "oracle" if oracle else "model",
            sim_overrides=sim_overrides,
            pointer_overrides={"autostart": False, **(pointer_overrides or {})},
            pick_overrides=pick_overrides,
        )
        self.nodes: list[Any] = [
            spec.load_class()(context=context, parameter_overrides=params(spec.overrides))
            for spec in specs
            if spec.node_class  # another package's node (robot_state_publisher) runs only under launch
        ]
        self.bridge, self.pointer, self.pick_node = self.nodes
        self.client = rclpy.create_node(
            "molmo_pick_cli", context=context, parameter_overrides=params(sim_time)
        )
        self.nodes.append(self.client)
        self.action = ActionClient(self.client, Pick, ACTION_NAME)
        self.place_action = ActionClient(self.client, PickPlace, PICK_PLACE_ACTION)
        self.state_client = self.client.create_client(GetSceneState, "/sim/get_scene_state")
        self.reset_client = self.client.create_client(ResetScene, "/sim/reset_scene")
        self.frames: list[np.ndarray] = []
        self.recording = False
        self._record = record
        self._last_kept = -1.0
        self._latest_msg: Any = None
        self.client.create_subscription(
            Image, sim_overrides.get("color_topic", "/camera/color/image_raw"), self._on_rgb, 2
        )
        self.executor = SteadyExecutor(num_threads=8, context=context)
        for node in self.nodes:
            self.executor.add_node(node)
        self._spin = threading.Thread(target=self.executor.spin, daemon=True)
        self._spin.start()

    def activate_pointer(self) -> None:
        """Configure and activate the pointer node (loads the model); MolmoRosError when it fails."""
        from lifecycle_msgs.msg import State

        from molmo_ros.errors import ErrorCode, MolmoRosError

        if not hasattr(self.pointer, "trigger_configure"):
            return
        self.pointer.trigger_configure()
        self.pointer.trigger_activate()
        if self.pointer._state_machine.current_state[0] != State.PRIMARY_STATE_ACTIVE:
            raise MolmoRosError(
                "the pointer node could not load its model (see the log above)", ErrorCode.MODEL_UNAVAILABLE
            )

    def _on_rgb(self, msg: Any) -> None:
        # Decoded only when kept: this process also runs the physics, and every callback holds the GIL.
        self._latest_msg = msg
        stamp = msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec
        if self.recording and self._record and stamp >= self._last_kept + GIF_PERIOD_S - 1e-6:
            self._last_kept = stamp
            self.frames.append(self._decode(msg))

    @staticmethod
    def _decode(msg: Any) -> np.ndarray:
        from molmo_ros.conversions import image_to_numpy, to_rgb

        return to_rgb(image_to_numpy(msg), msg.encoding)

    @property
    def latest_rgb(self) -> np.ndarray | None:
        """The newest camera picture (H, W, 3) uint8, None before the first."""
        msg = self._latest_msg
        return None if msg is None else self._decode(msg)

    def wait_for_camera(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self._latest_msg is None:
            if time.monotonic() > deadline:
                raise TimeoutError("no camera image from the simulation")
            time.sleep(0.05)

    def call(self, client: Any, request: Any, timeout_s: float = 60.0) -> Any:
        if not client.wait_for_service(timeout_sec=10.0):
            raise TimeoutError(f"service {client.srv_name} not available")
        future = client.call_async(request)
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout_s):
            raise TimeoutError(f"no answer from {client.srv_name}")
        return future.result()

    def scene_state(self) -> Any:
        from molmo_ros_interfaces.srv import GetSceneState

        return self.call(self.state_client, GetSceneState.Request())

    def reset(self, seed: int, num_objects: int = 0) -> Any:
        from molmo_ros_interfaces.srv import ResetScene

        response = self.call(self.reset_client, ResetScene.Request(seed=seed, num_objects=num_objects), 120.0)
        self._latest_msg = None
        self.wait_for_camera()
        return response

    def pick(self, query: str, timeout_s: float = 300.0, on_feedback: Any = None) -> tuple[Any, int]:
        """Send a Pick goal and wait; returns (Pick.Result, GoalStatus code)."""
        from molmo_ros_interfaces.action import Pick

        return self._send(self.action, Pick.Goal(query=query), timeout_s, on_feedback)

    def pick_place(
        self, query: str, place_query: str, timeout_s: float = 600.0, on_feedback: Any = None, **fields: Any
    ) -> tuple[Any, int]:
        """Send a PickPlace goal (`fields`: max_objects, max_attempts, place_pose) and wait; returns
        (PickPlace.Result, GoalStatus code)."""
        from molmo_ros_interfaces.action import PickPlace

        goal = PickPlace.Goal(query=query, place_query=place_query, **fields)
        return self._send(self.place_action, goal, timeout_s, on_feedback)

    def _send(self, client: Any, goal: Any, timeout_s: float, on_feedback: Any) -> tuple[Any, int]:
        if not client.wait_for_server(timeout_sec=10.0):
            raise TimeoutError(f"the action server {client._action_name} is not available")
        self.frames, self._last_kept, self.recording = [], -1.0, True
        done = threading.Event()
        holder: dict[str, Any] = {}

        def on_goal(future: Any) -> None:
            handle = future.result()
            holder["handle"] = handle
            if not handle.accepted:
                done.set()
                return
            result_future = handle.get_result_async()
            result_future.add_done_callback(lambda f: (holder.__setitem__("result", f.result()), done.set()))

        send = client.send_goal_async(goal, feedback_callback=on_feedback)
        send.add_done_callback(on_goal)
        try:
            if not done.wait(timeout_s):
                raise TimeoutError(f"the goal did not finish within {timeout_s:g} s")
        finally:
            self.recording = False
        if "result" not in holder:
            raise RuntimeError("the goal was rejected")
        wrapped = holder["result"]
        return wrapped.result, wrapped.status

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=5)
        for client in (self.action, self.place_action):
            client.destroy()
        for node in reversed(self.nodes):
            node.destroy_node()
        if self._owns_context and rclpy.ok():
            rclpy.shutdown()
