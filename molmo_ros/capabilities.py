"""Which optional components this Python environment has.

ROS users with a distribution have tf2_ros, launch and moveit_py; the plain-machine environment
(.venv/) has only rclpy and the message packages from the package index. Code that can use an optional
component asks here, uses the embedded equivalent otherwise, and says which one it used.
"""

from __future__ import annotations

import importlib.util
from functools import cache

# Optional module -> what molmo_ros uses it for, and what it does without it.
OPTIONAL_MODULES: dict[str, str] = {
    "rclpy": "ROS 2 nodes (required by the nodes and the ROS CLI commands)",
    "molmo_ros_interfaces": "Point service and Pick action types (required by the nodes)",
    "tf2_ros": "transforms to the target frame; without it, a static transform from parameters",
    "launch": "`ros2 launch` files; without it, the molmo-ros CLI starts the same graph",
    "launch_ros": "`ros2 launch` files; without it, the molmo-ros CLI starts the same graph",
    "moveit.planning": "MoveIt planning (moveit_py); without it, the embedded planner",
    "mujoco": "the embedded simulator",
    "torch": "the transformers model backend",
    "transformers": "the transformers model backend",
}


@cache
def has_module(name: str) -> bool:
    """True when `name` can be imported here (checked without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        # A missing parent package ("moveit" for "moveit.planning") raises instead of returning None.
        return False


def report() -> dict[str, dict[str, object]]:
    """{module: {"available": bool, "role": str}} for every optional module."""
    return {name: {"available": has_module(name), "role": role} for name, role in OPTIONAL_MODULES.items()}
