"""Launch the pointer node (/molmo/point) with config/point.yaml.

    ros2 launch molmo_ros point.launch.py model:=allenai/Molmo2-8B rgb_topic:=/camera/color/image_raw

Every argument defaults to "", meaning "keep config/point.yaml's value": defaults live in the YAML only.
"""

from launch_ros.actions import Node

from molmo_ros.nodes.launch_support import dds_env, given_arguments, launch_description, parameter_files

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
    given = given_arguments(context, ARGUMENTS)
    return [
        Node(
            package="molmo_ros",
            executable="pointer_node",
            name="molmo_pointer",
            output="screen",
            parameters=[parameter_files(given, "point.yaml"), given],
            additional_env=dds_env(context),
        )
    ]


def generate_launch_description():
    return launch_description(ARGUMENTS, launch_setup)
