#!/usr/bin/env python
"""Benchmark the MuJoCo tabletop: real-time factor with the RGB-D camera at several rates; prints one JSON object.

The real-time factor is simulated seconds per wall second while the arm follows a trajectory and the camera
renders colour and depth every 1/rate simulated seconds (as the bridge node does with real_time_factor 0).
Usage: scripts/bench_sim.py [--seconds 4] [--rates 0 15 30] [--width 640] [--height 480] [--seed 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from molmo_ros.planning.trajectory import JointTrajectory
from molmo_ros.sim import robot
from molmo_ros.sim.config import load_sim_config
from molmo_ros.sim.simulator import Simulator


def measure(sim: Simulator, seconds: float, rate: float) -> dict[str, float]:
    """Run `seconds` of simulated time with the camera at `rate` Hz (0: none); return the figures."""
    home = sim.joint_positions()[:7]
    wave = home + np.array([0.4, 0.3, -0.3, 0.3, 0.4, -0.3, 0.5])
    sim.follow(JointTrajectory(robot.ARM_JOINTS, [0.5 * seconds, seconds], [wave, home]))
    sim.render()  # the first frame creates the GL context: not part of the figures
    steps_per_frame = round(1.0 / (rate * sim.timestep)) if rate > 0 else 0
    total_steps = round(seconds / sim.timestep)
    render_time = 0.0
    frames = 0
    start = time.perf_counter()
    for step in range(1, total_steps + 1):
        sim.step()
        if steps_per_frame and step % steps_per_frame == 0:
            t0 = time.perf_counter()
            sim.render(rgb=True, depth=True)
            render_time += time.perf_counter() - t0
            frames += 1
    wall = time.perf_counter() - start
    return {
        "camera_hz": rate,
        "sim_seconds": round(seconds, 3),
        "wall_seconds": round(wall, 3),
        "real_time_factor": round(seconds / wall, 3),
        "frames": frames,
        "render_ms_per_frame": round(1000.0 * render_time / frames, 1) if frames else None,
        "physics_steps_per_second": round(total_steps / max(wall - render_time, 1e-9)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.0, 15.0, 30.0])
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    config = load_sim_config(seed=args.seed, image_width=args.width, image_height=args.height)
    sim = Simulator(config)
    try:
        runs = [measure(sim, args.seconds, rate) for rate in args.rates]
    finally:
        sim.close()
    print(
        json.dumps(
            {
                "image": f"{args.width}x{args.height}",
                "timestep_s": config.timestep,
                "shadows": config.render_shadows,
                "mujoco_gl": os.environ.get("MUJOCO_GL", ""),
                "cpu": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                "objects": len(sim.layout.objects),
                "runs": runs,
            }
        )
    )


if __name__ == "__main__":
    main()
