"""`molmo-ros point-server`: the pointer node without `ros2 launch`, reading the same YAML as point.launch.py.

Options mirror the launch file's arguments; anything else goes to ROS after --ros-args.
"""

from __future__ import annotations

import argparse

# Launch argument -> node parameter; an option left out keeps the YAML's value.
OVERRIDES = {
    "model": "model",
    "backend": "backend",
    "device": "device",
    "rgb_topic": "rgb_topic",
    "depth_topic": "depth_topic",
    "camera_info_topic": "camera_info_topic",
    "target_frame": "target_frame",
    "server_url": "server_url",
    "use_sim_time": "use_sim_time",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("point-server", help="run the pointer node (/molmo/point)")
    parser.add_argument("--params-file", help="parameter file (default: the package's config/point.yaml)")
    for option in OVERRIDES:
        parser.add_argument(f"--{option.replace('_', '-')}", dest=option)
    parser.add_argument("ros_args", nargs=argparse.REMAINDER, help="--ros-args ... passed to the node")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from molmo_ros.cli import given_options, ros_arguments
    from molmo_ros.nodes import pointer

    overrides = given_options(args, OVERRIDES)
    return pointer.main(
        ["molmo-ros", *ros_arguments("point.yaml", args.params_file, overrides, args.ros_args)]
    )
