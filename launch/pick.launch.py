"""Launch the pick: the pointer node (/molmo/point), the pick node (/molmo/pick) and optionally a simulation.

    ros2 launch molmo_ros pick.launch.py sim:=mujoco
    ros2 launch molmo_ros pick.launch.py planner:=moveit sim:=gazebo model:=allenai/Molmo2-8B
    ros2 launch molmo_ros pick.launch.py sim:=none rgb_topic:=/camera/color/image_raw camera_frame:=...

Arguments default to "", meaning "keep the YAML's value" (config/point.yaml, config/pick.yaml, config/sim.yaml):
defaults live in the YAML only. planner:=moveit loads MoveIt's Panda configuration with MoveItConfigsBuilder
("moveit_resources_panda") and passes it to the pick node, whose moveit_py planner reads it. With sim:=mujoco
the camera pose comes from config/sim.yaml (the same computation as the simulator's), so the 3D points and
the depth image are in the robot base frame without tf2; with a real camera, publish tf or give
static_transform. `molmo-ros pick` starts the same graph without `ros2 launch`.
"""

import math
import os
from pathlib import Path

import yaml
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch_ros.actions import Node

from molmo_ros.nodes.launch_support import launch_description
from molmo_ros.nodes.launch_support import share as package_share

ARGUMENTS = {
    "model": "pointer: checkpoint directory or hub id (empty: the bundled checkpoint)",
    "backend": "pointer: transformers or openai",
    "planner": "embedded or moveit",
    "planner_preset": "preset of config/planners.yaml",
    "sim": "none, mujoco or gazebo",
    "seed": "simulation: scene seed",
    "rgb_topic": "colour image topic",
    "depth_topic": "depth image topic",
    "camera_info_topic": "CameraInfo topic",
    "planning_frame": "robot base frame (targets, grasps, plans)",
    "static_transform": "camera optical frame in planning_frame [x, y, z, qx, qy, qz, qw] when there is no tf2",
    "use_sim_time": "true with a simulation (default with sim:=mujoco or gazebo)",
}


def _sim_camera_transform(sim_yaml: Path) -> list:
    """The MuJoCo camera's optical frame in the base frame, from config/sim.yaml (look-at, level horizon)."""
    from scipy.spatial.transform import Rotation

    from molmo_ros.sim.scene import look_at_xyaxes

    params = yaml.safe_load(sim_yaml.read_text())["sim_bridge"]["ros__parameters"]
    position, target = params["camera_position"], params["camera_target"]
    right, up = look_at_xyaxes(position, target)
    forward = [t - p for t, p in zip(target, position, strict=True)]
    norm = math.sqrt(sum(v * v for v in forward))
    # Optical axes: x right, y down, z forward (REP 103).
    matrix = [[right[i], -up[i], forward[i] / norm] for i in range(3)]
    quat = Rotation.from_matrix(matrix).as_quat()
    return [float(v) for v in (*position, *quat)]


def launch_setup(context, *args, **kwargs):
    values = {name: context.launch_configurations.get(name, "") for name in ARGUMENTS}
    share = package_share()
    sim = values.pop("sim") or "none"
    if sim not in ("none", "mujoco", "gazebo"):
        raise ValueError(f"sim must be none, mujoco or gazebo, not {sim!r}")
    use_sim_time = yaml.safe_load(values.pop("use_sim_time") or ("true" if sim != "none" else "false"))
    actions = []
    if sim == "mujoco":
        seed = values.pop("seed")
        actions.append(
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(str(share / "launch" / "sim_mujoco.launch.py")),
                launch_arguments={"seed": seed}.items() if seed else [],
            )
        )
    elif sim == "gazebo":
        values.pop("seed")
        actions.append(
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(str(share / "launch" / "sim_gazebo.launch.py"))
            )
        )
    else:
        values.pop("seed")

    static = yaml.safe_load(values.pop("static_transform")) if values["static_transform"] else None
    if static is None and sim == "mujoco":
        static = _sim_camera_transform(share / "config" / "sim.yaml")
    common = {"use_sim_time": use_sim_time}
    if static is not None:
        common["static_transform"] = static

    pointer = {
        k: values[k]
        for k in ("model", "backend", "rgb_topic", "depth_topic", "camera_info_topic")
        if values[k]
    }
    if values["planning_frame"]:
        pointer["target_frame"] = values["planning_frame"]
    actions.append(
        Node(
            package="molmo_ros",
            executable="pointer_node",
            name="molmo_pointer",
            output="screen",
            parameters=[str(share / "config" / "point.yaml"), {**common, **pointer}],
        )
    )

    pick = {
        k: values[k]
        for k in ("planner", "planner_preset", "depth_topic", "camera_info_topic", "planning_frame")
        if values[k]
    }
    pick_parameters = [str(share / "config" / "pick.yaml"), {**common, **pick}]
    if (values["planner"] or "embedded") == "moveit":
        from moveit_configs_utils import MoveItConfigsBuilder

        moveit_config = MoveItConfigsBuilder("moveit_resources_panda").to_moveit_configs()
        pick_parameters.insert(1, moveit_config.to_dict())
    actions.append(
        Node(
            package="molmo_ros",
            executable="pick_node",
            name="molmo_pick",
            output="screen",
            parameters=pick_parameters,
            additional_env={"MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")},
        )
    )
    return actions


def generate_launch_description():
    return launch_description(ARGUMENTS, launch_setup)
