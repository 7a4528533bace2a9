"""The launch files, loaded by the real launch library (../shared/ros2-cli or a distribution): which nodes they
start, with which effective parameters. Nothing is started here; test_ros2_cli.py runs them for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from molmo_ros.bringup.graph import sim_camera
from molmo_ros.config import config_path, node_parameters
from support.ros2_cli import ROOT, package_prefix, require_ros2_environment

LAUNCH = ROOT / "launch"


@pytest.fixture(scope="module")
def launch_env(tmp_path_factory) -> dict[str, str]:
    env = require_ros2_environment()
    prefix = package_prefix(tmp_path_factory.mktemp("ament_prefix"))
    env["AMENT_PREFIX_PATH"] = f"{prefix}:{env.get('AMENT_PREFIX_PATH', '')}"
    env["PYTHONPATH"] = f"{ROOT}:{env.get('PYTHONPATH', '')}"
    return env


def load(env: dict[str, str], name: str, **arguments: str) -> dict:
    run = subprocess.run(
        [sys.executable, str(ROOT / "test" / "support" / "launch_probe.py"), str(LAUNCH / name), json.dumps(arguments)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def by_name(loaded: dict) -> dict[str, dict]:
    return {p["name"]: p for p in loaded["processes"]}


def defaults(config: str, node: str) -> dict:
    return node_parameters(config_path(config), node)


def test_every_launch_argument_defaults_to_keeping_the_yaml_value(launch_env):
    for name in ("pick.launch.py", "point.launch.py", "sim_mujoco.launch.py"):
        declared = load(launch_env, name, sim="none")["arguments"]
        assert declared and all(value == "" for value in declared.values()), (name, declared)


def test_the_pick_graph_with_the_mujoco_simulation(launch_env):
    nodes = by_name(load(launch_env, "pick.launch.py", sim="mujoco", seed="7", layout="place"))
    assert {n: p["executable"] for n, p in nodes.items()} == {
        "sim_bridge": "sim_node",
        "molmo_pointer": "pointer_node",
        "molmo_pick": "pick_node",
    }
    camera, world = sim_camera()
    sim, pointer, pick = nodes["sim_bridge"], nodes["molmo_pointer"], nodes["molmo_pick"]
    assert sim["parameters"]["seed"] == 7 and sim["parameters"]["use_sim_time"] is True
    assert sim["parameters"]["layout"] == "place"
    # The YAML's defaults are all there, with the graph's values on top.
    assert set(defaults("sim.yaml", "sim_bridge")) <= set(sim["parameters"])
    assert set(defaults("point.yaml", "molmo_pointer")) <= set(pointer["parameters"])
    assert set(defaults("pick.yaml", "molmo_pick")) <= set(pick["parameters"])
    for node in (pointer, pick):
        assert node["parameters"]["static_transform"] == pytest.approx(camera)
        assert node["parameters"]["use_sim_time"] is True
    assert pointer["parameters"]["target_frame"] == world == pick["parameters"]["planning_frame"]
    assert sim["env"]["MUJOCO_GL"] and pick["env"]["MUJOCO_GL"]
    # Every process reads the package's Fast DDS profile (images through shared memory) ...
    profiles = {node["env"].get("FASTDDS_DEFAULT_PROFILES_FILE") for node in nodes.values()}
    assert len(profiles) == 1 and Path(profiles.pop()).name == "fastdds_large_data.xml"
    # ... unless told otherwise.
    plain = by_name(load(launch_env, "pick.launch.py", sim="mujoco", dds_profile="none"))
    assert not any("FASTDDS_DEFAULT_PROFILES_FILE" in node["env"] for node in plain.values())
    assert "dds_profile" not in plain["molmo_pointer"]["parameters"]


def test_the_oracle_point_source_and_overrides_reach_their_nodes(launch_env):
    nodes = by_name(
        load(launch_env, "pick.launch.py", sim="mujoco", point_source="oracle", planner_preset="fast")
    )
    assert set(nodes) == {"sim_bridge", "molmo_oracle_pointer", "molmo_pick"}
    assert nodes["molmo_oracle_pointer"]["executable"] == "oracle_point_node"
    assert nodes["molmo_pick"]["parameters"]["planner_preset"] == "fast"


def test_the_pick_graph_on_a_real_camera_keeps_the_yaml_camera_pose(launch_env):
    nodes = by_name(
        load(launch_env, "pick.launch.py", sim="none", rgb_topic="/cam/color", model="/models/molmo")
    )
    assert set(nodes) == {"molmo_pointer", "molmo_pick"}
    pointer, pick = nodes["molmo_pointer"]["parameters"], nodes["molmo_pick"]["parameters"]
    assert pointer["rgb_topic"] == "/cam/color" and pointer["model"] == "/models/molmo"
    assert pointer["use_sim_time"] is False and pick["use_sim_time"] is False
    assert pick["static_transform"] == defaults("pick.yaml", "molmo_pick")["static_transform"]


@pytest.mark.parametrize(("sim", "reason"), [("webots", "sim must be one of"), ("gazebo", "SetBool service")])
def test_a_bad_argument_is_refused_with_the_reason(launch_env, sim, reason):
    run = subprocess.run(
        [sys.executable, str(ROOT / "test" / "support" / "launch_probe.py"), str(LAUNCH / "pick.launch.py"),
         json.dumps({"sim": sim})],
        env=launch_env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode != 0 and reason in run.stderr


def test_the_simulation_and_pointer_launch_files(launch_env):
    sim = by_name(load(launch_env, "sim_mujoco.launch.py", seed="11", image_width="320"))["sim_bridge"]
    assert sim["executable"] == "sim_node"
    assert sim["parameters"]["seed"] == 11 and sim["parameters"]["image_width"] == 320
    assert sim["parameters"]["image_height"] == defaults("sim.yaml", "sim_bridge")["image_height"]
    pointer = by_name(load(launch_env, "point.launch.py", backend="openai", model="allenai/Molmo2-8B"))
    params = pointer["molmo_pointer"]["parameters"]
    assert params["backend"] == "openai" and params["model"] == "allenai/Molmo2-8B"


def test_the_gazebo_launch_file_starts_gz_with_the_world_and_the_bridge(launch_env):
    loaded = load(launch_env, "sim_gazebo.launch.py")
    gz = next(p for p in loaded["processes"] if p["executable"] == "gz")
    assert gz["command"][:3] == ["gz", "sim", "-r"] and gz["command"][3].endswith("tabletop.sdf")
    bridge = next(p for p in loaded["processes"] if p.get("executable") == "parameter_bridge")
    assert Path(bridge["parameters"]["config_file"]).name == "bridge.yaml"
    assert os.path.isfile(bridge["parameters"]["config_file"])
