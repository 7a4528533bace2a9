"""The moveit_py backend's configuration, checked as data (MoveIt itself is not installable here)."""

from __future__ import annotations

from pathlib import Path

import yaml

from molmo_ros.planning.moveit_config import global_parameter_file


def test_the_moveit_presets_ask_for_plan_request_namespaces_moveit_py_yaml_defines():
    import yaml

    from molmo_ros.config import config_path
    from molmo_ros.planning.moveit_config import MOVEIT_PY_FILE, plan_request_namespaces

    namespaces = plan_request_namespaces()
    pipelines = yaml.safe_load(config_path(MOVEIT_PY_FILE).read_text())["planning_pipelines"][
        "pipeline_names"
    ]
    presets = yaml.safe_load(config_path("planners.yaml").read_text())["moveit"]
    for preset in presets.values():
        for key in ("free_pipeline", "linear_pipeline"):
            namespace = namespaces[preset[key]]
            assert namespace["planning_pipeline"] in pipelines
    assert namespaces["pilz_lin"]["planner_id"] == "LIN"


def test_the_parameters_reach_every_node_of_the_process():
    path = global_parameter_file(
        {"robot_description": "<robot name='panda'/>", "planning_pipelines": {"x": 1}}
    )
    content = yaml.safe_load(Path(path).read_text())
    assert content == {
        "/**": {
            "ros__parameters": {"robot_description": "<robot name='panda'/>", "planning_pipelines": {"x": 1}}
        }
    }
