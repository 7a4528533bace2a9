"""Planner presets (config/planners.yaml) and choosing a backend.

The file has one section per backend (``embedded``, ``moveit``), each a mapping of preset names to
settings; the pick node's ``planner`` and ``planner_preset`` parameters pick one.
"""

from __future__ import annotations

from typing import Any

import yaml

from molmo_ros.capabilities import has_module
from molmo_ros.config import config_path
from molmo_ros.errors import ErrorCode, MolmoRosError
from molmo_ros.planning.planner import Planner

BACKENDS = ("embedded", "moveit")


def load_preset(backend: str, preset: str, path: str | None = None) -> dict[str, Any]:
    """The settings of `preset` for `backend` from config/planners.yaml (or `path`)."""
    with open(path or config_path("planners.yaml")) as stream:
        document = yaml.safe_load(stream) or {}
    if backend not in document:
        raise KeyError(f"planners.yaml has no section {backend!r} (sections: {sorted(document)})")
    presets = document[backend]
    if preset not in presets:
        raise KeyError(f"planners.yaml has no {backend} preset {preset!r} (presets: {sorted(presets)})")
    return dict(presets[preset] or {})


def make_planner(backend: str, preset: str, **moveit_kwargs: Any) -> Planner:
    """The planner `backend` ("embedded" or "moveit") with settings `preset`.

    Raises MolmoRosError (PLANNING_FAILED) naming what is missing when the backend cannot be built here.
    """
    if backend not in BACKENDS:
        raise MolmoRosError(f"planner must be one of {BACKENDS}, got {backend!r}", ErrorCode.INVALID_REQUEST)
    settings = load_preset(backend, preset)
    if backend == "moveit":
        if not has_module("moveit.planning"):
            raise MolmoRosError(
                "planner 'moveit' needs moveit_py (a ROS 2 distribution with MoveIt 2); use planner 'embedded'",
                ErrorCode.PLANNING_FAILED,
            )
        from molmo_ros.planning.moveit_backend import MoveItPyPlanner, MoveItSettings

        return MoveItPyPlanner(MoveItSettings.from_mapping(settings), **moveit_kwargs)
    from molmo_ros.planning.embedded import EmbeddedPlanner, EmbeddedSettings

    return EmbeddedPlanner(EmbeddedSettings.from_mapping(settings))
