"""Load a launch file with the real launch library and print, as JSON, what it would start: for each process
its executable, node name, effective parameters (every parameter file and dict merged as the node would read
them) and extra environment. Nothing is started. Run with the ROS 2 command-line tools on the path:

    python test/support/launch_probe.py LAUNCH_FILE '{"sim": "mujoco"}'
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.utilities import perform_substitutions
from launch_ros.actions import Node


class _Loader(yaml.SafeLoader):
    """launch_ros writes list parameters as ``!!python/tuple`` (rcl reads them as sequences)."""


_Loader.add_constructor(
    "tag:yaml.org,2002:python/tuple", lambda loader, node: loader.construct_sequence(node)
)


def _parameters(node: Node) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for argument, is_file in node._Node__expanded_parameter_arguments or []:
        if not is_file:
            name, _, value = argument.partition(":=")
            merged[name] = yaml.safe_load(value)
            continue
        content = yaml.load(Path(argument).read_text(), Loader=_Loader) or {}
        base = node.node_name.rsplit("/", 1)[-1]
        for key in ("/**", base, f"/{base}"):
            merged.update((content.get(key) or {}).get("ros__parameters", {}))
    return merged


def _env(action: ExecuteProcess, context: LaunchContext) -> dict[str, str]:
    pairs = action.additional_env or []
    return {perform_substitutions(context, k): perform_substitutions(context, v) for k, v in pairs}


def probe(path: str, arguments: dict[str, str]) -> dict[str, Any]:
    context = LaunchContext()
    context.launch_configurations.update(arguments)
    description = PythonLaunchDescriptionSource(path).get_launch_description(context)
    declared = {}
    processes = []
    pending: list[Any] = [description]
    while pending:
        entity = pending.pop(0)
        if isinstance(entity, Node):
            entity._perform_substitutions(context)
            processes.append(
                {
                    "executable": entity.node_executable,
                    "package": entity.node_package,
                    "name": entity.node_name.rsplit("/", 1)[-1],
                    "parameters": _parameters(entity),
                    "env": _env(entity, context),
                }
            )
        elif isinstance(entity, ExecuteProcess):
            command = [perform_substitutions(context, part) for part in entity.cmd]
            processes.append({"executable": command[0], "command": command, "env": _env(entity, context)})
        elif isinstance(entity, IncludeLaunchDescription):
            pending[:0] = entity.visit(context) or []
        else:
            if isinstance(entity, DeclareLaunchArgument) and entity.name not in declared:
                declared[entity.name] = perform_substitutions(context, entity.default_value or [])
            if isinstance(entity, LaunchDescription):
                pending[:0] = entity.entities
            else:
                pending[:0] = entity.visit(context) or []
    return {"arguments": declared, "processes": processes}


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1], json.loads(sys.argv[2]))))
