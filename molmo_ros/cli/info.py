"""`molmo-ros info`: what this environment can run (ROS pieces, simulator, model backends)."""

from __future__ import annotations

import argparse
import json
import os
import platform

from molmo_ros import __version__
from molmo_ros.capabilities import report


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="show which optional components this environment has")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    facts = {
        "molmo_ros": __version__,
        "python": platform.python_version(),
        "ros_distro": os.environ.get("ROS_DISTRO", ""),
        "mujoco_gl": os.environ.get("MUJOCO_GL", ""),
        "components": report(),
    }
    if args.json:
        print(json.dumps(facts))
        return 0
    print(
        f"molmo_ros {facts['molmo_ros']} on Python {facts['python']}, ROS_DISTRO={facts['ros_distro'] or '-'}"
    )
    for name, entry in facts["components"].items():
        mark = "yes" if entry["available"] else "no "
        print(f"  {mark}  {name:22s} {entry['role']}")
    return 0
