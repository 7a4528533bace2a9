"""Launch the MuJoCo simulation bridge (camera, joint states, clock, arm trajectories, gripper, scene services).

    ros2 launch molmo_ros sim_mujoco.launch.py seed:=3 real_time_factor:=1.0

Every argument defaults to "", meaning "keep config/sim.yaml's value": defaults live in the YAML only.
Headless rendering uses MUJOCO_GL from the environment (egl unless set; osmesa without a GPU driver).
"""

import os
from pathlib import Path

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node

ARGUMENTS = {
    "seed": "scene seed",
    "num_objects": "objects on the table (1-6; 0: the seed picks)",
    "real_time_factor": "simulated seconds per wall second; 0: as fast as possible",
    "camera_rate": "camera frames per simulated second",
    "image_width": "image width, pixels",
    "image_height": "image height, pixels",
    "depth_encoding": "32FC1 (meters) or 16UC1 (millimeters)",
    "params_file": "parameter file replacing config/sim.yaml",
}


def launch_setup(context, *args, **kwargs):
    values = {name: context.launch_configurations.get(name, "") for name in ARGUMENTS}
    params_file = values.pop("params_file") or str(
        Path(get_package_share_directory("molmo_ros")) / "config" / "sim.yaml"
    )
    # Launch arguments are strings; YAML typing turns "3" into an int and "1.0" into a float.
    overrides = {name: yaml.safe_load(value) for name, value in values.items() if value != ""}
    return [
        Node(
            package="molmo_ros",
            executable="sim_node",
            name="sim_bridge",
            output="screen",
            parameters=[params_file, overrides],
            additional_env={"MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")},
        )
    ]


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value="", description=text) for name, text in ARGUMENTS.items()]
        + [OpaqueFunction(function=launch_setup)]
    )
