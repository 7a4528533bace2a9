"""What the launch files share: arguments that default to "keep the YAML's value", typed overrides.

Imported only by launch/*.py under `ros2 launch` (the launch library is not installed in the plain-machine
environment); the CLI starts the same nodes from the same YAML files without it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction


def share() -> Path:
    """The installed share/molmo_ros folder (config/, launch/)."""
    return Path(get_package_share_directory("molmo_ros"))


#: The launch argument every launch file has: which Fast DDS profile its processes read.
DDS_ARGUMENT = {
    "dds_profile": "Fast DDS profile file for the started processes (empty: config/fastdds_large_data.xml, images "
    "through shared memory, unless FASTDDS_DEFAULT_PROFILES_FILE is already set; none: Fast DDS's defaults)"
}


def dds_env(context: Any) -> dict[str, str]:
    """The environment that makes a started process read the `dds_profile` (:mod:`molmo_ros.bringup.dds`)."""
    from molmo_ros.bringup.dds import dds_environment

    choice = context.launch_configurations.get("dds_profile", "")
    return dds_environment(choice, share() / "config", os.environ)


def given_arguments(context: Any, arguments: Mapping[str, str]) -> dict[str, Any]:
    """The arguments the user set (non-empty), typed as YAML reads them ("3" -> 3, "true" -> True)."""
    values = {name: context.launch_configurations.get(name, "") for name in arguments}
    return {name: yaml.safe_load(value) for name, value in values.items() if value != ""}


def parameter_files(given: dict[str, Any], config_file: str) -> str:
    """`params_file` if the user gave one (removed from `given`), else the package's config/<config_file>."""
    return str(given.pop("params_file", None) or share() / "config" / config_file)


def launch_description(arguments: Mapping[str, str], setup: Callable[..., list]) -> LaunchDescription:
    """Declare every argument with default "" (the YAML's value stays) and run `setup` with the context."""
    every = {**arguments, **DDS_ARGUMENT}
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value="", description=text) for name, text in every.items()]
        + [OpaqueFunction(function=setup)]
    )
