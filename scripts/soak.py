#!/usr/bin/env python3
"""Soak: point queries at a steady rate while picks run back to back, for a fixed time; prints one JSON object.

    .venv/bin/python scripts/soak.py --seconds 600 --rate 2     # 10 minutes at 2 Hz, the shipped model

The simulation bridge, the pointer node (the shipped model unless --oracle) and the pick node run in this
process (molmo_ros.cli.session.PickSession), so this process's RSS is the nodes' memory. One thread resets a
scene (seeds from --first-seed on) and sends a pick goal after the other; another calls /molmo/point at
--rate Hz. Reported: picks done and their outcomes, point queries and their codes (anything besides OK,
NOT_FOUND, NO_DEPTH and BUSY is unexpected), the RSS every --sample-s seconds, its growth over the second
half of the run (the first half includes warm-up allocations) and the largest point-query latency.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import sys
import threading
import time
from pathlib import Path

# A domain of its own (unless one is given): another pick graph on this machine (a second run, a test) would
# otherwise answer this one's goals and services.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(150, 230)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

EXPECTED = {"OK", "NOT_FOUND", "NO_DEPTH", "BUSY"}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--rate", type=float, default=2.0, help="point queries per second")
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--first-seed", type=int, default=5000)
    parser.add_argument("--oracle", action="store_true", help="ground-truth pointing instead of the model")
    args = parser.parse_args(argv)

    from molmo_ros.cli.session import PickSession, scene_query
    from molmo_ros.errors import ErrorCode
    from molmo_ros.nodes.parameters import SERVICE_QOS
    from molmo_ros_interfaces.srv import Point

    sim = {"real_time_factor": 0.0, "image_width": 320, "image_height": 240, "seed": args.first_seed}
    session = PickSession(sim, {"planner_preset": "fast"}, oracle=args.oracle, record=False)
    session.activate_pointer()
    session.wait_for_camera()
    client = session.client.create_client(Point, "/molmo/point", qos_profile=SERVICE_QOS)
    stop = threading.Event()
    picks: collections.Counter = collections.Counter()
    codes: collections.Counter = collections.Counter()
    latencies: list[float] = []
    failures: list[str] = []

    def pick_loop() -> None:
        seed = args.first_seed
        while not stop.is_set():
            try:
                labels = [f"{o.colour} {o.kind}" for o in session.reset(seed).objects]
                result, _ = session.pick(scene_query(labels, seed), 180.0)
                picks[ErrorCode(result.error.code).name] += 1
            except Exception as err:  # counted and reported: a soak must keep going
                failures.append(f"pick seed {seed}: {type(err).__name__}: {err}")
            seed += 1

    def query_loop() -> None:
        period, next_t = 1.0 / args.rate, time.monotonic()
        while not stop.is_set():
            began = time.perf_counter()
            future = client.call_async(Point.Request(query="the red cup"))
            done = threading.Event()
            future.add_done_callback(lambda _, event=done: event.set())
            if not done.wait(60.0):
                codes["NO_ANSWER_IN_60_S"] += 1
            else:
                codes[ErrorCode(future.result().error.code).name] += 1
                latencies.append((time.perf_counter() - began) * 1e3)
            next_t += period
            time.sleep(max(0.0, next_t - time.monotonic()))

    samples = [(0.0, round(rss_mb(), 1))]
    began = time.monotonic()
    threads = [
        threading.Thread(target=pick_loop, daemon=True),
        threading.Thread(target=query_loop, daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        while time.monotonic() - began < args.seconds:
            time.sleep(args.sample_s)
            samples.append((round(time.monotonic() - began, 1), round(rss_mb(), 1)))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=200)
        session.close()
    half = [rss for t, rss in samples if t >= args.seconds / 2]
    unexpected = {k: v for k, v in codes.items() if k not in EXPECTED}
    print(
        json.dumps(
            {
                "seconds": args.seconds,
                "query_rate_hz": args.rate,
                "pointing": "oracle" if args.oracle else "shipped model",
                "picks": dict(picks),
                "point_queries": dict(codes),
                "unexpected_codes": unexpected,
                "errors": failures[:10],
                "query_latency_ms_max": round(max(latencies), 1) if latencies else None,
                "rss_mb": {"start": samples[0][1], "end": samples[-1][1], "max": max(r for _, r in samples)},
                "rss_growth_mb_second_half": round(half[-1] - half[0], 1) if len(half) > 1 else None,
                "rss_samples": samples,
            }
        )
    )
    return 0 if not unexpected and not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
