"""The pick's node graph: the simulation (optional), a point source (the model or the simulation's ground truth)
and the pick node, with the parameters that tie them together.

Each node reads its defaults from its config/*.yaml section; a :class:`NodeSpec` carries only what the graph
sets on top: the camera's pose (computed once, from config/sim.yaml, when the simulation is in the graph),
the planning frame, simulated time, and the caller's overrides.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SIMS = ("none", "mujoco")
POINT_SOURCES = ("model", "oracle")


@dataclass(frozen=True)
class NodeSpec:
    """One node of a graph.

    name: node name (also its section in `config_file`); executable: console script (launch);
    node_class: ``module:Class`` (in-process; "" for another package's node, which only launch starts);
    config_file: config/<file> with its defaults ("" for none); overrides: parameter values over the file;
    env: extra environment for its process; package: the ROS package of the executable.
    """

    name: str
    executable: str
    node_class: str
    config_file: str
    overrides: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    package: str = "molmo_ros"

    def load_class(self) -> type:
        module, _, name = self.node_class.partition(":")
        return getattr(importlib.import_module(module), name)


def sim_camera(sim_overrides: Mapping[str, Any] | None = None) -> tuple[list[float], str]:
    """The MuJoCo camera's optical frame as ``static_transform`` ([x, y, z, qx, qy, qz, qw] in the world frame)
    and the world frame's name, from config/sim.yaml with `sim_overrides`."""
    from molmo_ros.sim.config import load_sim_config

    camera_keys = {"camera_position", "camera_target", "world_frame", "camera_frame"}
    config = load_sim_config(**{k: v for k, v in (sim_overrides or {}).items() if k in camera_keys})
    translation, quat = config.camera_pose().as_xyz_quat()
    return [*map(float, translation), *map(float, quat)], config.world_frame


def pick_graph(
    sim: str = "mujoco",
    point_source: str = "model",
    *,
    sim_overrides: Mapping[str, Any] | None = None,
    pointer_overrides: Mapping[str, Any] | None = None,
    pick_overrides: Mapping[str, Any] | None = None,
    static_transform: list[float] | None = None,
    planning_frame: str | None = None,
    use_sim_time: bool | None = None,
    mujoco_gl: str = "egl",
    robot_state_publisher: bool = False,
) -> list[NodeSpec]:
    """The nodes of a pick (see the module docstring).

    Args:
        sim: "mujoco" (the bridge node is part of the graph) or "none" (a real robot and camera, or a
            simulator started separately). Not "gazebo": its world has no gripper service the pick node can
            close (the Gazebo gripper is a std_msgs/Float64 position topic), so a Gazebo pick could not grasp.
        point_source: "model" (the pointer node) or "oracle" (ground truth; needs a simulation).
        static_transform: the camera's optical frame in the planning frame; default with sim="mujoco": the
            simulator's camera (:func:`sim_camera`), else the YAML's (or tf).
        planning_frame: frame of targets and plans; default with sim="mujoco": the simulation's world frame.
        use_sim_time: default true with a simulation.
        robot_state_publisher: with sim="mujoco", add robot_state_publisher (the arm's links on /tf from the
            simulation's joint states, from the same URDF); launch passes True where the package is installed.

    Raises:
        ValueError: an unknown sim or point source, or the oracle without a simulation.
    """
    if sim == "gazebo":
        raise ValueError(
            "sim:=gazebo is not part of the pick: the Gazebo world's gripper is a std_msgs/Float64 position "
            "topic, not the std_srvs/SetBool service the pick node closes; start sim_gazebo.launch.py on its own "
            "for the camera and the arm, or use sim:=mujoco"
        )
    if sim not in SIMS:
        raise ValueError(f"sim must be one of {SIMS}, not {sim!r}")
    if point_source not in POINT_SOURCES:
        raise ValueError(f"point_source must be one of {POINT_SOURCES}, not {point_source!r}")
    if point_source == "oracle" and sim == "none":
        raise ValueError("the oracle point source answers from a simulation's ground truth: give sim")
    if static_transform is None and sim == "mujoco":
        static_transform, world = sim_camera(sim_overrides)
        planning_frame = planning_frame or world
    common: dict[str, Any] = {"use_sim_time": sim != "none" if use_sim_time is None else bool(use_sim_time)}
    placed = dict(common)
    if static_transform is not None:
        placed["static_transform"] = [float(v) for v in static_transform]
    nodes = []
    if sim == "mujoco":
        nodes.append(
            NodeSpec(
                "sim_bridge",
                "sim_node",
                "molmo_ros.nodes.sim:SimBridgeNode",
                "sim.yaml",
                {**(sim_overrides or {}), **common},
                {"MUJOCO_GL": mujoco_gl},
            )
        )
    if sim == "mujoco" and robot_state_publisher:
        from molmo_ros.planning.description import panda_urdf_path

        description = {"robot_description": panda_urdf_path().read_text(), **common}
        nodes.append(
            NodeSpec(
                "robot_state_publisher",
                "robot_state_publisher",
                "",
                "",
                description,
                package="robot_state_publisher",
            )
        )
    if point_source == "oracle":
        nodes.append(
            NodeSpec(
                "molmo_oracle_pointer",
                "oracle_point_node",
                "molmo_ros.nodes.oracle_point:OraclePointNode",
                "pick.yaml",
                dict(common),
            )
        )
    else:
        pointer = {**placed, **({"target_frame": planning_frame} if planning_frame else {})}
        nodes.append(
            NodeSpec(
                "molmo_pointer",
                "pointer_node",
                "molmo_ros.nodes.pointer:PointerNode",
                "point.yaml",
                {**pointer, **(pointer_overrides or {})},
            )
        )
    pick = {**placed, **({"planning_frame": planning_frame} if planning_frame else {})}
    nodes.append(
        NodeSpec(
            "molmo_pick",
            "pick_node",
            "molmo_ros.nodes.pick:PickNode",
            "pick.yaml",
            {**pick, **(pick_overrides or {})},
            {"MUJOCO_GL": mujoco_gl},
        )
    )
    return nodes
