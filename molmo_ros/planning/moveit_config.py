"""MoveIt's configuration for the moveit_py backend, in one place: MoveIt's Panda package
(``moveit_resources_panda``) plus ``config/moveit/moveit_py.yaml`` (planning pipelines and the plan-request
namespaces ``config/planners.yaml`` names), built with ``MoveItConfigsBuilder`` as MoveIt's Python tutorials do.

Launch hands the result to the pick node's process as a parameter file scoped ``/**``, so MoveItPy's own node
(whatever its name) reads the same parameters; in-process callers pass :func:`moveit_config_dict` to MoveItPy.
Needs a ROS distribution with MoveIt 2 (``moveit_configs_utils``); not importable here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml

from molmo_ros.config import config_path

MOVEIT_PACKAGE = "moveit_resources_panda"
MOVEIT_PY_FILE = "moveit/moveit_py.yaml"


def plan_request_namespaces(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The ``plan_request_params`` namespaces of moveit_py.yaml: name -> their parameters."""
    content = yaml.safe_load((path or config_path(MOVEIT_PY_FILE)).read_text())
    return {
        k: v["plan_request_params"]
        for k, v in content.items()
        if isinstance(v, dict) and "plan_request_params" in v
    }


def moveit_config_dict(moveit_py_file: Path | None = None) -> dict[str, Any]:
    """``MoveItConfigsBuilder(MOVEIT_PACKAGE).moveit_cpp(file_path=...).to_moveit_configs().to_dict()``."""
    from moveit_configs_utils import MoveItConfigsBuilder

    builder = MoveItConfigsBuilder(MOVEIT_PACKAGE).moveit_cpp(
        file_path=str(moveit_py_file or config_path(MOVEIT_PY_FILE))
    )
    return builder.to_moveit_configs().to_dict()


def global_parameter_file(parameters: dict[str, Any]) -> str:
    """A ROS parameter file applying `parameters` to every node of a process (``/**``); its path."""
    with tempfile.NamedTemporaryFile("w", prefix="molmo_ros_moveit_", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump({"/**": {"ros__parameters": parameters}}, handle)
        return handle.name
