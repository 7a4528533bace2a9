"""Launch the pointer node (/molmo/point) with config/point.yaml.

    ros2 launch molmo_ros point.launch.py model:=allenai/Molmo2-8B rgb_topic:=/camera/color/image_raw

Every argument defaults to "", meaning "keep config/point.yaml's value": defaults live in the YAML only.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node

ARGUMENTS = {
    "model": "checkpoint directory or hub id (transformers) or served model name (openai)",
    "backend": "transformers or openai",
    "device": "auto, cpu, cuda or cuda:N",
    "rgb_topic": "colour image topic",
    "depth_topic": "depth image topic (16UC1 mm or 32FC1 m)",
    "camera_info_topic": "CameraInfo topic",
    "target_frame": "frame of the returned 3D points",
    "server_url": "openai backend: server base URL",
    "params_file": "parameter file replacing config/point.yaml",
    "use_sim_time": "true when the camera is stamped with simulated time (/clock), as the MuJoCo bridge does",
}


def launch_setup(context, *args, **kwargs):
    values = {name: context.launch_configurations.get(name, "") for name in ARGUMENTS}
    params_file = values.pop("params_file") or str(
        Path(get_package_share_directory("molmo_ros")) / "config" / "point.yaml"
    )
    overrides = {name: value for name, value in values.items() if value != ""}
    if "use_sim_time" in overrides:
        overrides["use_sim_time"] = overrides["use_sim_time"].lower() == "true"
    return [
        Node(
            package="molmo_ros",
            executable="pointer_node",
            name="molmo_pointer",
            output="screen",
            parameters=[params_file, overrides],
        )
    ]


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value="", description=text) for name, text in ARGUMENTS.items()]
        + [OpaqueFunction(function=launch_setup)]
    )
