#!/usr/bin/env python3
"""Benchmark the point service on this machine; prints one JSON object.

The pointer node runs in its own process (`pointer_node`, the console script) so its CPU time and memory can
be read from /proc without counting the publisher. This process publishes 640x480 RGB-D frames and CameraInfo
at the camera rate and then:
  1. measures the node's CPU use while it only ingests frames (no queries): the camera-ingest cost, for each
     ingest mode of --ingest-modes in the same run ("messages": a callback decodes every frame into a
     message; "serialized": a callback keeps the bytes, only the queried pair decoded; "taken": no callback,
     DDS keeps the newest messages and a query takes them, take_on_query, the default) and Fast DDS profile
     (--dds-profile: the launch files' shared-memory profile unless "none");
  2. sends point queries back to back while frames keep coming (last mode's node), and reports the
     round-trip latency (client side) and the node's split (preprocess, model, parse + 3D) as p50 / p95, plus
     the node's CPU share during the queries;
  3. with --burst N, sends N queries at once: how many were answered or BUSY (none may be lost: the bench
     waits at most --burst-timeout s), p50 / p95 of the answered ones, the node's RSS before and after, and
     that a query right after is answered.

    .venv/bin/python scripts/bench_point_service.py [--model DIR] [--queries 30] [--rate 30] [--burst 100]

Without --model it builds (once, cached) the tiny random Molmo2 checkpoint the tests use; its answers are
random text, so the figures measure the service machinery and a tiny model's forward pass, not accuracy.
The frames are random pixels unless --scene-seed N: then the colour frame is the simulator's held-out scene N
(as `training.evaluate` renders it) and the query names its first visible object, so a trained model's round
trip includes writing a real point answer (its length sets the decoding time).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

VENV_BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # training.molmo2 (the tiny test checkpoint) and training.data (--scene-seed)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def percentiles(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    return {"p50": round(float(np.percentile(arr, 50)), 2), "p95": round(float(np.percentile(arr, 95)), 2)}


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid`, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def frame_and_query(seed: int | None, width: int, height: int) -> tuple[np.ndarray, str]:
    """The colour frame (H, W, 3) uint8 and the query: random pixels and "the red cup", or the simulator's scene
    ``seed`` and "the <label>" of its first visible object."""
    if seed is None:
        return np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8), "the red cup"
    from training.data.scenes import RenderConfig, SceneRenderer

    with SceneRenderer(RenderConfig(width=width, height=height, views_per_scene=1)) as renderer:
        scene = next(renderer.scene(seed, views=1))
    return scene.image, f"the {scene.visible_objects()[0].label}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="checkpoint directory (default: the tiny random test checkpoint)")
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate, Hz")
    parser.add_argument("--ingest-seconds", type=float, default=10.0)
    parser.add_argument(
        "--ingest-modes",
        nargs="+",
        default=["messages", "serialized", "taken"],
        choices=("messages", "serialized", "taken"),
        help="messages: a callback decodes every frame; serialized: a callback keeps the bytes; taken: "
        "nothing per frame, the newest taken when a query comes (the default node); queries use the last",
    )
    parser.add_argument("--burst", type=int, default=0, help="concurrent queries after the sequential ones")
    parser.add_argument("--burst-timeout", type=float, default=300.0)
    parser.add_argument(
        "--dds-profile",
        default="",
        help="Fast DDS profile for this process and the node: '' = config/fastdds_large_data.xml (as the launch "
        "files set it), 'none' = Fast DDS's built-in transports, or a file",
    )
    parser.add_argument(
        "--cpu-threads", type=int, help="the node's cpu_threads parameter (default: config/point.yaml's)"
    )
    parser.add_argument(
        "--stop-after-points",
        choices=("true", "false"),
        help="the node's stop_after_points parameter (default: config/point.yaml's)",
    )
    parser.add_argument(
        "--scene-seed", type=int, help="publish this simulator scene and ask for its first visible object"
    )
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args()

    from training.molmo2 import tiny_checkpoint

    model = args.model or str(tiny_checkpoint())
    from molmo_ros.bringup.dds import dds_environment

    env = dict(
        os.environ, ROS_DOMAIN_ID=str(random.randint(150, 230)), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST"
    )
    env.update(dds_environment(args.dds_profile, ROOT / "config", os.environ))
    os.environ.update(env)

    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image

    from molmo_ros.conversions import numpy_to_image
    from molmo_ros.nodes.executor import SteadyExecutor
    from molmo_ros.nodes.parameters import SERVICE_QOS
    from molmo_ros_interfaces.srv import Point

    def start_node(mode: str) -> subprocess.Popen:
        command = [
            str(VENV_BIN / "pointer_node"),
            "--ros-args",
            "-p", f"model:={model}",
            "-p", "stale_frame_s:=0.0",
            "-p", "annotate:=true",
            "-p", f"deserialize_on_query:={'false' if mode == 'messages' else 'true'}",
            "-p", f"take_on_query:={'true' if mode == 'taken' else 'false'}",
            *(["-p", f"cpu_threads:={args.cpu_threads}"] if args.cpu_threads is not None else []),
            *(["-p", f"stop_after_points:={args.stop_after_points}"] if args.stop_after_points else []),
            "--log-level", "warn",
        ]  # fmt: skip
        return subprocess.Popen(command, env=env)

    rclpy.init()
    node = rclpy.create_node("bench_point_client")
    executor = SteadyExecutor(num_threads=2)
    executor.add_node(node)
    spinning = threading.Thread(target=executor.spin, daemon=True)
    spinning.start()

    qos = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)  # as the simulation publishes
    rgb_pub = node.create_publisher(Image, "/camera/color/image_raw", qos)
    depth_pub = node.create_publisher(Image, "/camera/depth/image_raw", qos)
    info_pub = node.create_publisher(CameraInfo, "/camera/camera_info", qos)
    rgb, query = frame_and_query(args.scene_seed, args.width, args.height)
    depth = np.full((args.height, args.width), 1.0, np.float32)
    colour_msg = numpy_to_image(rgb, "rgb8", msg_factory=Image)
    depth_msg = numpy_to_image(depth, "32FC1", msg_factory=Image)
    info = CameraInfo(width=args.width, height=args.height, distortion_model="plumb_bob", d=[0.0] * 5)
    info.k = [500.0, 0.0, (args.width - 1) / 2, 0.0, 500.0, (args.height - 1) / 2, 0.0, 0.0, 1.0]
    stop = threading.Event()

    def camera() -> None:
        period = 1.0 / args.rate
        next_t = time.monotonic()
        while not stop.is_set():
            stamp = node.get_clock().now().to_msg()
            for msg in (colour_msg, depth_msg, info):
                msg.header.stamp, msg.header.frame_id = stamp, "camera_color_optical_frame"
            info_pub.publish(info)
            rgb_pub.publish(colour_msg)
            depth_pub.publish(depth_msg)
            next_t += period
            time.sleep(max(0.0, next_t - time.monotonic()))

    client = node.create_client(Point, "/molmo/point", qos_profile=SERVICE_QOS)

    def call() -> tuple[float, object]:
        start = time.perf_counter()
        future = client.call_async(Point.Request(query=query))
        while not future.done():
            time.sleep(0.001)
        return (time.perf_counter() - start) * 1e3, future.result()

    publishing = threading.Thread(target=camera, daemon=True)
    publishing.start()
    ingest: dict[str, float] = {}
    report: dict[str, object] = {}
    servers: list[subprocess.Popen] = []
    try:
        for k, mode in enumerate(args.ingest_modes):
            server = start_node(mode)
            servers.append(server)
            if not client.wait_for_service(timeout_sec=120):
                raise RuntimeError("the pointer node did not come up")
            deadline = time.monotonic() + 300.0
            while call()[1].error.code == 11:  # MODEL_UNAVAILABLE: still loading the model
                if time.monotonic() > deadline:
                    raise RuntimeError("the pointer node did not activate")
                time.sleep(0.5)
            call()  # warm-up: the first forward passes allocate
            cpu0, wall0 = process_cpu_s(server.pid), time.monotonic()
            time.sleep(args.ingest_seconds)
            ingest[mode] = round((process_cpu_s(server.pid) - cpu0) / (time.monotonic() - wall0), 4)
            if k < len(args.ingest_modes) - 1:
                server.terminate()
                server.wait(timeout=30)
                time.sleep(1.0)
        server = servers[-1]  # the last mode's node answers the queries
        rows = {
            "round_trip_ms": [],
            "node_total_ms": [],
            "preprocess_ms": [],
            "model_ms": [],
            "parse_3d_ms": [],
        }
        codes: dict[int, int] = {}
        answers: dict[str, int] = {}
        cpu0, wall0 = process_cpu_s(server.pid), time.monotonic()
        for _ in range(args.queries):
            round_trip, response = call()
            rows["round_trip_ms"].append(round_trip)
            rows["node_total_ms"].append(response.latency_ms)
            rows["preprocess_ms"].append(response.preprocess_ms)
            rows["model_ms"].append(response.model_ms)
            rows["parse_3d_ms"].append(response.postprocess_ms)
            codes[response.error.code] = codes.get(response.error.code, 0) + 1
            answers[response.raw_text] = answers.get(response.raw_text, 0) + 1
        query_share = (process_cpu_s(server.pid) - cpu0) / (time.monotonic() - wall0)
        report["latency"] = {name: percentiles(values) for name, values in rows.items()}
        report["error_codes"] = {str(k): v for k, v in codes.items()}
        report["answers"] = answers  # the model's text and how often (its length sets the decoding time)
        report["query_node_ingest_mode"] = args.ingest_modes[-1]
        report["stop_after_points"] = args.stop_after_points or "config/point.yaml"
        report["dds_profile"] = env.get("FASTDDS_DEFAULT_PROFILES_FILE", "Fast DDS built-in transports")
        report["node_cpu_share_while_querying"] = round(query_share, 4)
        if args.burst:
            report["burst"] = burst(client, server.pid, args.burst, args.burst_timeout, call, Point)
    finally:
        stop.set()
        publishing.join(timeout=5)  # a publish racing rclpy.shutdown aborted the process at exit
        for server in servers:
            if server.poll() is None:
                server.terminate()
                server.wait(timeout=30)
        executor.shutdown()
        spinning.join(timeout=5)
        rclpy.shutdown()

    print(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count()},
                "image": f"{args.width}x{args.height}",
                "camera_rate_hz": args.rate,
                "model": model,
                "queries": args.queries,
                "query": query,
                "scene_seed": args.scene_seed,
                "node_cpu_share_of_one_core_ingest_only": ingest,
                **report,
            }
        )
    )
    return 0


def burst(client, pid: int, n: int, timeout_s: float, call, point_srv) -> dict[str, object]:
    """N queries at once: codes, p50 / p95 of the answered ones, RSS before / after, one query after."""
    rss_before = rss_mb(pid)
    sent = time.perf_counter()
    futures = [client.call_async(point_srv.Request(query="the red cup")) for _ in range(n)]
    finished: dict[int, float] = {}
    deadline = time.monotonic() + timeout_s
    while len(finished) < n and time.monotonic() < deadline:
        for i, future in enumerate(futures):
            if i not in finished and future.done():
                finished[i] = (time.perf_counter() - sent) * 1e3
        time.sleep(0.002)
    codes: dict[str, int] = {}
    answered = []
    for i, future in enumerate(futures):
        if i in finished:
            code = future.result().error.code
            codes[str(code)] = codes.get(str(code), 0) + 1
            if code == 0:
                answered.append(finished[i])
    _, after = call()
    return {
        "requests": n,
        "finished": len(finished),
        "lost_or_hung": n - len(finished),
        "error_codes": codes,
        "answered_ms": percentiles(answered) if answered else None,
        "rss_mb_before": rss_before,
        "rss_mb_after": rss_mb(pid),
        "query_after_code": int(after.error.code),
    }


if __name__ == "__main__":
    sys.exit(main())
