"""`molmo-ros sim`: the MuJoCo tabletop, as the ROS bridge node or as a one-shot picture / ground truth.

- ``molmo-ros sim --seed 3``: run the bridge node (topics and services of config/sim.yaml) until Ctrl-C.
- ``molmo-ros sim --seed 3 --snapshot FILE.png``: render the camera picture of that scene and exit (no ROS).
- ``--json``: print the scene's ground truth as one JSON object (objects with name, colour, pose, pixel
  centre; the camera's intrinsics and pose) and exit (no ROS).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

# Option -> node parameter; an option left out keeps the parameter file's value.
OVERRIDES = {
    "seed": "seed",
    "num_objects": "num_objects",
    "width": "image_width",
    "height": "image_height",
    "camera_rate": "camera_rate",
    "real_time_factor": "real_time_factor",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sim", help="run the MuJoCo simulation (ROS bridge), or render a scene")
    parser.add_argument("--params-file", help="parameter file (default: the package's config/sim.yaml)")
    parser.add_argument("--seed", type=int, help="scene seed (default: the file's)")
    parser.add_argument("--num-objects", type=int, help="objects on the table, 1-6 (default: the seed picks)")
    parser.add_argument("--width", type=int, help="image width, pixels")
    parser.add_argument("--height", type=int, help="image height, pixels")
    parser.add_argument("--camera-rate", type=float, help="camera frames per simulated second")
    parser.add_argument(
        "--real-time-factor", type=float, help="simulated s per wall s; 0: as fast as possible"
    )
    parser.add_argument("--snapshot", metavar="FILE.png", help="write the camera picture and exit (no ROS)")
    parser.add_argument(
        "--json", action="store_true", help="print the ground truth as JSON and exit (no ROS)"
    )
    parser.add_argument("ros_args", nargs=argparse.REMAINDER, help="--ros-args ... passed to the node")
    parser.set_defaults(func=run)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from molmo_ros.cli import given_options

    return given_options(args, OVERRIDES)


def ground_truth(sim: Any) -> dict[str, Any]:
    """The scene's ground truth as a JSON-friendly dict (masks reduced to their pixel counts)."""
    state = sim.scene_state(with_masks=True)
    translation, quat = state.camera_pose.as_xyz_quat()
    k = state.intrinsics
    return {
        "seed": state.seed,
        "time": round(state.time, 6),
        "frame_id": state.camera_pose.parent_frame,
        "camera": {
            "frame_id": state.camera_pose.child_frame,
            "width": k.width,
            "height": k.height,
            "fx": k.fx,
            "fy": k.fy,
            "cx": k.cx,
            "cy": k.cy,
            "position": [round(float(v), 6) for v in translation],
            "quaternion_xyzw": [round(float(v), 6) for v in quat],
        },
        "objects": [o.to_dict() for o in state.objects],
        "grasped": state.grasped,
    }


def write_snapshot(rgb: Any, path: str) -> Path:
    """Write an (H, W, 3) RGB picture with OpenCV (which expects BGR)."""
    import cv2

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"OpenCV could not write {out} (unsupported extension?)")
    return out


def run(args: argparse.Namespace) -> int:
    if args.snapshot or args.json:
        from molmo_ros.sim.config import load_sim_config
        from molmo_ros.sim.simulator import Simulator

        config = load_sim_config(Path(args.params_file) if args.params_file else None, **_overrides(args))
        sim = Simulator(config)
        try:
            if args.snapshot:
                write_snapshot(sim.render(rgb=True, depth=False).rgb, args.snapshot)
            if args.json:
                print(json.dumps(ground_truth(sim)))
        finally:
            sim.close()
        return 0
    from molmo_ros.nodes import sim as sim_node

    return sim_node.main(["molmo-ros", *node_command_line(args)])


def node_command_line(args: argparse.Namespace) -> list[str]:
    """The bridge node's ROS arguments: config/sim.yaml (or --params-file) and the given overrides."""
    from molmo_ros.cli import ros_arguments

    return ros_arguments("sim.yaml", args.params_file, _overrides(args), args.ros_args)
