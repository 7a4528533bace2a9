"""`molmo-ros pick "the red cup"`: the whole pick in simulation, as real ROS 2 nodes in one process.

Starts the MuJoCo bridge (molmo_ros.nodes.sim), a point source (the pointer node with a Molmo model, or with
``--oracle`` the simulation's ground truth) and the pick node (/molmo/pick), on one multi-threaded executor;
sends the goal and waits for the result. Writes, into ``--out``: ``camera.png`` (the camera view with the
picked point), ``motion.gif`` (the camera during the pick) and ``result.json``; prints one JSON line:
success, query, target_object (per ground truth), lifted_object, error, timings_ms, ...
Success means the object the query names (per ground truth) is lifted at least the simulation's
``lift_height`` and held. The parameter files are the same as for the launch file (config/*.yaml).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from molmo_ros.cli import given_options

GIF_EVERY = 3  # keep every n-th camera frame in the GIF
GIF_WIDTH = 320


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("pick", help="pick up an object in the MuJoCo simulation (ROS 2 nodes)")
    parser.add_argument("query", nargs="?", default="", help='what to pick, e.g. "the red cup"')
    parser.add_argument("--seed", type=int, help="scene seed (default: config/sim.yaml's)")
    parser.add_argument("--model", help="checkpoint directory or hub id (default: the bundled checkpoint)")
    parser.add_argument("--oracle", action="store_true", help="point with the simulation's ground truth")
    parser.add_argument(
        "--query-from-scene", action="store_true", help="ask for an object of the seeded scene"
    )
    parser.add_argument("--out", type=Path, default=Path("pick_output"), help="folder for pictures and JSON")
    parser.add_argument("--json", action="store_true", help="print only the JSON line on stdout")
    parser.add_argument(
        "--planner", choices=("embedded", "moveit"), help="motion planner (default: pick.yaml)"
    )
    parser.add_argument("--planner-preset", help="preset of config/planners.yaml")
    parser.add_argument("--width", type=int, help="camera width, pixels (default: sim.yaml)")
    parser.add_argument("--height", type=int, help="camera height, pixels (default: sim.yaml)")
    parser.add_argument(
        "--real-time-factor",
        type=float,
        default=0.0,
        help="simulated s per wall s; 0 (default): as fast as possible",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    parser.add_argument("--no-gif", action="store_true", help="do not record the motion")
    parser.set_defaults(func=run)


def scene_query(labels: list[str], seed: int) -> str:
    """A query naming one object of the scene, drawn from the seed ("the red cup")."""
    rng = np.random.default_rng(seed + 7919)
    return f"the {labels[int(rng.integers(len(labels)))]}"


def seed_with_object(query: str, tries: int = 500) -> int:
    """The first seed from config/sim.yaml's on whose scene has an object the query names (the file's seed
    when none has): `molmo-ros pick "the red cup"` without --seed finds a scene with a red cup."""
    from molmo_ros.planning.targets import match_labels
    from molmo_ros.sim.config import load_sim_config
    from molmo_ros.sim.layout import sample_layout

    config = load_sim_config()
    for seed in range(config.seed, config.seed + tries):
        if match_labels(query, [o.label for o in sample_layout(seed, config).objects]):
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
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.parameter import Parameter
        from sensor_msgs.msg import Image

        from molmo_ros.bringup.graph import pick_graph
        from molmo_ros.nodes.pick import ACTION_NAME
        from molmo_ros_interfaces.action import Pick
        from molmo_ros_interfaces.srv import GetSceneState, ResetScene

        def params(values: dict[str, Any]) -> list[Parameter]:
            return [Parameter(k, value=v) for k, v in values.items()]

        self._owns_context = context is None
        if context is None:
            rclpy.init()
            context = rclpy.get_default_context()
        self.context = context
        sim_time = {"use_sim_time": True}
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
        self.state_client = self.client.create_client(GetSceneState, "/sim/get_scene_state")
        self.reset_client = self.client.create_client(ResetScene, "/sim/reset_scene")
        self.frames: list[np.ndarray] = []
        self.recording = False
        self._record = record
        self._frame_count = 0
        self.latest_rgb: np.ndarray | None = None
        self.client.create_subscription(
            Image, sim_overrides.get("color_topic", "/camera/color/image_raw"), self._on_rgb, 2
        )
        self.executor = MultiThreadedExecutor(num_threads=8, context=context)
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
        from molmo_ros.conversions import image_to_numpy, to_rgb

        rgb = to_rgb(image_to_numpy(msg), msg.encoding)
        self.latest_rgb = rgb
        if self.recording and self._record:
            self._frame_count += 1
            if self._frame_count % GIF_EVERY == 0:
                self.frames.append(rgb)

    def wait_for_camera(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.latest_rgb is None:
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
        self.latest_rgb = None
        self.wait_for_camera()
        return response

    def pick(self, query: str, timeout_s: float = 300.0, on_feedback: Any = None) -> tuple[Any, int]:
        """Send the goal and wait; returns (Pick.Result, GoalStatus code)."""
        from molmo_ros_interfaces.action import Pick

        if not self.action.wait_for_server(timeout_sec=10.0):
            raise TimeoutError("the pick action server is not available")
        self.frames, self._frame_count, self.recording = [], 0, True
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

        send = self.action.send_goal_async(Pick.Goal(query=query), feedback_callback=on_feedback)
        send.add_done_callback(on_goal)
        try:
            if not done.wait(timeout_s):
                raise TimeoutError(f"the pick did not finish within {timeout_s:g} s")
        finally:
            self.recording = False
        if "result" not in holder:
            raise RuntimeError("the pick goal was rejected")
        wrapped = holder["result"]
        return wrapped.result, wrapped.status

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=5)
        for node in reversed(self.nodes):
            node.destroy_node()
        if self._owns_context and rclpy.ok():
            rclpy.shutdown()


def outcome(result: Any, state: Any, query: str) -> dict[str, Any]:
    """The JSON record of one pick: success per ground truth, objects, error code name, stage timings."""
    from molmo_ros.errors import ErrorCode
    from molmo_ros.planning.targets import match_labels

    labels = [f"{o.colour} {o.kind}" for o in state.objects]
    hits = match_labels(query, labels)
    target = state.objects[hits[0]].name if hits else None
    lifted = [o.name for o in state.objects if o.grasped]
    lifted_object = lifted[0] if lifted else None
    error = None if result.error.code == 0 else ErrorCode(result.error.code).name
    return {
        "success": bool(result.success and target is not None and lifted_object == target),
        "query": query,
        "target_object": target,
        "lifted_object": lifted_object,
        "error": error,
        "message": result.error.message,
        "timings_ms": {
            n: round(float(v), 1) for n, v in zip(result.stage_names, result.stage_ms, strict=False)
        },
        "target_point": [
            round(result.target.point.x, 4),
            round(result.target.point.y, 4),
            round(result.target.point.z, 4),
        ],
    }


def write_pictures(
    session: PickSession, result: Any, query: str, first_rgb: np.ndarray, out: Path
) -> dict[str, str]:
    """camera.png (the first view with the picked point) and motion.gif (the camera during the pick)."""
    import cv2
    from PIL import Image as PILImage

    from molmo_ros.pointing import PixelPoint
    from molmo_ros.pointing.drawing import draw_points

    out.mkdir(parents=True, exist_ok=True)
    files = {}
    points = []
    p = result.target.point
    if result.target.header.frame_id:
        uv = session.bridge.sim.project_world(np.array([[p.x, p.y, p.z]]))[0]
        if np.all(np.isfinite(uv)):
            points.append(PixelPoint(float(uv[0]), float(uv[1]), query))
    picture = draw_points(first_rgb, points, caption=query)
    camera_path = out / "camera.png"
    cv2.imwrite(str(camera_path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    files["camera"] = str(camera_path)
    if session.frames:
        scale = GIF_WIDTH / session.frames[0].shape[1]
        size = (GIF_WIDTH, round(session.frames[0].shape[0] * scale))
        images = [PILImage.fromarray(f).resize(size) for f in session.frames]
        gif_path = out / "motion.gif"
        images[0].save(gif_path, save_all=True, append_images=images[1:], duration=100, loop=0)
        files["gif"] = str(gif_path)
    return files


def run(args: argparse.Namespace) -> int:
    from molmo_ros.errors import MolmoRosError

    def emit(record: dict[str, Any]) -> None:
        print(json.dumps(record))
        sys.stdout.flush()

    if not args.oracle and not args.model:
        try:
            from molmo_ros.models import default_model_path

            default_model_path()
        except MolmoRosError as err:
            emit(
                {
                    "success": False,
                    "query": args.query,
                    "target_object": None,
                    "lifted_object": None,
                    "error": err.code.name,
                    "message": f"{err} (or run with --oracle to point from ground truth)",
                    "timings_ms": {},
                }
            )
            return 1
    if not args.query and not args.query_from_scene:
        print('error: give a query ("the red cup") or --query-from-scene', file=sys.stderr)
        return 2
    sim_overrides: dict[str, Any] = {"real_time_factor": float(args.real_time_factor)}
    if args.seed is None and args.query and not args.query_from_scene:
        sim_overrides["seed"] = seed_with_object(args.query)
    sim_overrides.update(
        given_options(args, {"seed": "seed", "width": "image_width", "height": "image_height"})
    )
    pick_overrides = {
        k: v for k, v in (("planner", args.planner), ("planner_preset", args.planner_preset)) if v
    }
    pointer_overrides = {"model": args.model} if args.model else {}
    started = time.perf_counter()
    session = PickSession(
        sim_overrides, pick_overrides, pointer_overrides, oracle=args.oracle, record=not args.no_gif
    )
    try:
        session.activate_pointer()
        session.wait_for_camera()
        before = session.scene_state()
        labels = [f"{o.colour} {o.kind}" for o in before.objects]
        query = scene_query(labels, int(before.seed)) if args.query_from_scene else args.query
        first_rgb = session.latest_rgb.copy()

        def feedback(msg: Any) -> None:
            if not args.json:
                print(f"[{msg.feedback.stage}] {msg.feedback.detail}", file=sys.stderr)

        result, _ = session.pick(query, args.timeout, feedback)
        state = session.scene_state()
        record = outcome(result, state, query)
        record["seed"] = int(before.seed)
        record["scene"] = labels
        record["oracle"] = bool(args.oracle)
        record["wall_s"] = round(time.perf_counter() - started, 1)
        record["files"] = write_pictures(session, result, query, first_rgb, args.out)
        (args.out / "result.json").write_text(json.dumps(record, indent=2))
    except MolmoRosError as err:
        record = {
            "success": False,
            "query": args.query,
            "target_object": None,
            "lifted_object": None,
            "error": err.code.name,
            "message": str(err),
            "timings_ms": {},
        }
    finally:
        session.close()
    if not args.json:
        verdict = "picked" if record["success"] else "did not pick"
        print(
            f"{verdict} {record.get('target_object')!r} for {record['query']!r}: lifted "
            f"{record.get('lifted_object')!r}, error {record.get('error')}",
            file=sys.stderr,
        )
    emit(record)
    return 0 if record["success"] else 1
