"""For ROS users with Gazebo (gz sim Harmonic): the same tabletop, camera and topics as the MuJoCo bridge.

    ros2 launch molmo_ros sim_gazebo.launch.py seed:=3 gui:=true

Starts gz sim with the world of that seed (config/gazebo/tabletop.sdf for the default seed, generated for
others), spawns the Panda from example-robot-data's URDF (package:// paths resolved, Gazebo controllers
attached), and bridges the topics of config/gazebo/bridge.yaml to the names of config/sim.yaml. The gripper
here is /gripper/position (std_msgs/Float64, opening of one finger in meters), not the SetBool service, and
the ResetScene / GetSceneState services exist only in the MuJoCo bridge. Not run in CI (no Gazebo there).
"""

import tempfile
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch_ros.actions import Node

from molmo_ros.sim.config import load_sim_config
from molmo_ros.sim.gazebo import WORLD_NAME, gazebo_urdf, world_sdf
from molmo_ros.sim.layout import sample_layout

ARGUMENTS = {
    "seed": "scene seed (empty: config/sim.yaml's)",
    "gui": "true: open the Gazebo window; false: run the server only",
    "params_file": "parameter file replacing config/sim.yaml",
}


def launch_setup(context, *args, **kwargs):
    values = {name: context.launch_configurations.get(name, "") for name in ARGUMENTS}
    share = Path(get_package_share_directory("molmo_ros"))
    params_file = values["params_file"] or str(share / "config" / "sim.yaml")
    config = load_sim_config(Path(params_file))
    if values["seed"] != "":
        config = config.replace(seed=int(values["seed"]))
    out = Path(tempfile.mkdtemp(prefix="molmo_ros_gz_"))
    world = share / "config" / "gazebo" / "tabletop.sdf"
    if values["seed"] != "":
        world = out / f"tabletop_seed{config.seed}.sdf"
        world.write_text(world_sdf(sample_layout(config.seed, config), config))
    urdf = out / "panda.urdf"
    urdf.write_text(gazebo_urdf(config))
    gz_args = ["gz", "sim", "-r", str(world)] + ([] if values["gui"] == "true" else ["-s"])
    return [
        ExecuteProcess(cmd=gz_args, output="screen"),
        Node(
            package="ros_gz_sim",
            executable="create",
            arguments=["-world", WORLD_NAME, "-file", str(urdf), "-name", "panda"],
            output="screen",
        ),
        Node(
            package="ros_gz_bridge",
            executable="parameter_bridge",
            parameters=[{"config_file": str(share / "config" / "gazebo" / "bridge.yaml")}],
            output="screen",
        ),
    ]


def generate_launch_description():
    defaults = {"gui": "false"}
    return LaunchDescription(
        [
            DeclareLaunchArgument(name, default_value=defaults.get(name, ""), description=text)
            for name, text in ARGUMENTS.items()
        ]
        + [OpaqueFunction(function=launch_setup)]
    )
