"""Launch the pick: the pointer node (/molmo/point), the pick node (/molmo/pick, /molmo/pick_place) and
optionally a simulation.

    ros2 launch molmo_ros pick.launch.py sim:=mujoco
    ros2 launch molmo_ros pick.launch.py sim:=mujoco layout:=place   # a bowl to put things in
    ros2 launch molmo_ros pick.launch.py planner:=moveit sim:=none model:=allenai/Molmo2-8B
    ros2 launch molmo_ros pick.launch.py sim:=mujoco point_source:=oracle
    ros2 launch molmo_ros pick.launch.py sim:=none rgb_topic:=/camera/color/image_raw static_transform:="[...]"

Arguments default to "", meaning "keep the YAML's value" (config/point.yaml, config/pick.yaml, config/sim.yaml):
defaults live in the YAML only. planner:=moveit builds MoveIt's configuration with MoveItConfigsBuilder
("moveit_resources_panda", plus config/moveit/moveit_py.yaml) and hands it to the pick process, whose moveit_py
planner reads it (molmo_ros.planning.moveit_config). The nodes and
their parameters come from :func:`molmo_ros.bringup.graph.pick_graph`, which `molmo-ros pick` starts in one
process: with sim:=mujoco the camera pose is the simulator's (computed from config/sim.yaml), so the 3D
points and the depth image are in the robot base frame without tf2; with a real camera, publish tf or give
static_transform.
"""

import os

import yaml
from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch_ros.actions import Node

from molmo_ros.bringup.graph import pick_graph
from molmo_ros.nodes.launch_support import dds_env, launch_description
from molmo_ros.nodes.launch_support import share as package_share

ARGUMENTS = {
    "model": "pointer: checkpoint directory or hub id (empty: the bundled checkpoint)",
    "backend": "pointer: transformers or openai",
    "point_source": "model (the pointer node) or oracle (the simulation's ground truth)",
    "planner": "embedded or moveit",
    "planner_preset": "preset of config/planners.yaml",
    "sim": "mujoco or none (gazebo is refused: its gripper is not the service the pick closes)",
    "seed": "simulation: scene seed",
    "layout": "simulation: mixed, place (with a large bowl to put things in) or sort (a bowl, 2-3 of a kind)",
    "rgb_topic": "colour image topic",
    "depth_topic": "depth image topic",
    "camera_info_topic": "CameraInfo topic",
    "planning_frame": "robot base frame (targets, grasps, plans)",
    "static_transform": "camera optical frame in planning_frame [x, y, z, qx, qy, qz, qw] when there is no tf2",
    "use_sim_time": "true with a simulation (default with sim:=mujoco or gazebo)",
}


def _given(values: dict, *names: str) -> dict:
    return {name: yaml.safe_load(values[name]) for name in names if values[name]}


def launch_setup(context, *args, **kwargs):
    values = {name: context.launch_configurations.get(name, "") for name in ARGUMENTS}
    share = package_share()
    sim = values["sim"] or "none"
    actions = []
    dds = dds_env(context)
    use_sim_time = yaml.safe_load(values["use_sim_time"]) if values["use_sim_time"] else None
    try:  # the arm's links on /tf where the package is installed (a ROS distribution)
        get_package_share_directory("robot_state_publisher")
        state_publisher = True
    except PackageNotFoundError:
        state_publisher = False
    nodes = pick_graph(
        sim,
        values["point_source"] or "model",
        sim_overrides=_given(values, "seed", "layout"),
        pointer_overrides=_given(values, "model", "backend", "rgb_topic", "depth_topic", "camera_info_topic"),
        pick_overrides=_given(values, "planner", "planner_preset", "depth_topic", "camera_info_topic"),
        static_transform=yaml.safe_load(values["static_transform"]) if values["static_transform"] else None,
        planning_frame=values["planning_frame"] or None,
        use_sim_time=use_sim_time,
        mujoco_gl=os.environ.get("MUJOCO_GL", "egl"),
        robot_state_publisher=state_publisher,
    )
    for spec in nodes:
        parameters = [str(share / "config" / spec.config_file)] if spec.config_file else []
        parameters.append(spec.overrides)
        if spec.name == "molmo_pick" and spec.overrides.get("planner") == "moveit":
            from molmo_ros.planning.moveit_config import global_parameter_file, moveit_config_dict

            # Scoped /** so that MoveItPy's own node in the pick process reads them too.
            parameters.insert(
                0, global_parameter_file(moveit_config_dict(share / "config" / "moveit" / "moveit_py.yaml"))
            )
        actions.append(
            Node(
                package=spec.package,
                executable=spec.executable,
                name=spec.name,
                output="screen",
                parameters=parameters,
                additional_env={**spec.env, **dds},
            )
        )
    return actions


def generate_launch_description():
    return launch_description(ARGUMENTS, launch_setup)
