"""The simulation bridge's parameters: descriptions and validation (the checks of
:func:`molmo_ros.sim.config.validate`). Defaults: config/sim.yaml (section ``sim_bridge``)."""

from __future__ import annotations

from typing import Any

from molmo_ros.sim.config import validate

DESCRIPTIONS = {
    "seed": "random seed of the scene built at start (ResetScene picks later ones)",
    "layout": "what a scene holds: mixed, place (a large bowl to put things in) or sort (a bowl, 2-3 of a kind)",
    "num_objects": "objects on the table; 0: the seed picks between min_objects and max_objects",
    "min_objects": "fewest objects a seed may pick (1-6)",
    "max_objects": "most objects a seed may pick (1-6)",
    "workspace_x": "[low, high] x of object centres in the world frame, meters",
    "workspace_y": "[low, high] y of object centres in the world frame, meters",
    "object_clearance": "free space between neighbouring objects, meters",
    "timestep": "physics step, seconds (at most 0.002: 500 Hz)",
    "settle_time": "simulated seconds after a reset before rest poses are recorded",
    "gripper_force": "force each finger presses with when the gripper closes, newtons",
    "lift_height": "height above its rest pose for an object to count as lifted, meters",
    "real_time_factor": "simulated seconds per wall second; 0: as fast as possible (every camera frame kept)",
    "camera_name": "name of the MuJoCo camera",
    "camera_position": "camera position [x, y, z] in the world frame, meters",
    "camera_target": "point [x, y, z] the camera looks at, meters",
    "camera_fovy": "vertical field of view, degrees",
    "image_width": "image width, pixels",
    "image_height": "image height, pixels",
    "camera_rate": "camera frames per simulated second",
    "camera_rate_moving": "camera frames per simulated second while the arm moves; 0: camera_rate",
    "depth_encoding": "depth image encoding: 32FC1 (meters) or 16UC1 (millimeters)",
    "render_shadows": "render shadows (nicer, about twice the CPU rendering time)",
    "joint_state_rate": "/joint_states and /clock messages per simulated second",
    "world_frame": "frame of poses (the robot base)",
    "camera_frame": "frame id of the camera images (the optical frame)",
    "color_topic": "colour image topic (sensor_msgs/Image rgb8)",
    "depth_topic": "depth image topic (sensor_msgs/Image, registered to the colour image)",
    "camera_info_topic": "sensor_msgs/CameraInfo topic",
    "joint_states_topic": "sensor_msgs/JointState topic",
    "clock_topic": "rosgraph_msgs/Clock topic (simulated time)",
    "trajectory_topic": "trajectory_msgs/JointTrajectory topic of the arm controller",
    "gripper_service": "std_srvs/SetBool service: true closes the gripper, false opens it",
    "reset_service": "molmo_ros_interfaces/srv/ResetScene service",
    "state_service": "molmo_ros_interfaces/srv/GetSceneState service",
    "cache_dir": "folder for generated MJCF files; empty: ~/.cache/molmo_ros/sim",
}


def validate_parameters(values: dict[str, Any]) -> None:
    problems = validate(values)
    if problems:
        raise ValueError("; ".join(problems))
