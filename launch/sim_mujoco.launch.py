"""Launch the MuJoCo simulation bridge (camera, joint states, clock, arm trajectories, gripper, scene services).

    ros2 launch molmo_ros sim_mujoco.launch.py seed:=3 real_time_factor:=1.0

Every argument defaults to "", meaning "keep config/sim.yaml's value": defaults live in the YAML only.
Headless rendering uses MUJOCO_GL from the environment (egl unless set; osmesa without a GPU driver).
"""

import os

from launch_ros.actions import Node

from molmo_ros.nodes.launch_support import dds_env, given_arguments, launch_description, parameter_files

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
    given = given_arguments(context, ARGUMENTS)
    return [
        Node(
            package="molmo_ros",
            executable="sim_node",
            name="sim_bridge",
            output="screen",
            parameters=[parameter_files(given, "sim.yaml"), given],
            additional_env={"MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"), **dds_env(context)},
        )
    ]


def generate_launch_description():
    return launch_description(ARGUMENTS, launch_setup)
