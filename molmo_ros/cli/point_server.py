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
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("point-server", help="run the pointer node (/molmo/point)")
    parser.add_argument("--params-file", help="parameter file (default: the package's config/point.yaml)")
    for option in OVERRIDES:
        parser.add_argument(f"--{option.replace('_', '-')}", dest=option)
    parser.add_argument("ros_args", nargs=argparse.REMAINDER, help="--ros-args ... passed to the node")
    parser.set_defaults(func=run)


def ros_arguments(args: argparse.Namespace) -> list[str]:
    """The node's command line: --ros-args with the parameter file and the given overrides."""
    from molmo_ros.config import config_path

    ros = ["--ros-args", "--params-file", str(args.params_file or config_path("point.yaml"))]
    for option, parameter in OVERRIDES.items():
        value = getattr(args, option)
        if value is not None:
            ros += ["-p", f"{parameter}:={value}"]
    extra = [a for a in args.ros_args if a != "--ros-args"]
    return ros + extra


def run(args: argparse.Namespace) -> int:
    from molmo_ros.nodes import pointer

    return pointer.main(["molmo-ros-point-server", *ros_arguments(args)])
