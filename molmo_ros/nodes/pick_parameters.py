"""The pick node's parameters (plain Python): their descriptions, which are read only when the node starts, and
their validation. Defaults: config/pick.yaml (section ``molmo_pick``)."""

from __future__ import annotations

from typing import Any

from molmo_ros.geometry import RigidTransform
from molmo_ros.nodes.parameters import RELIABILITY
from molmo_ros.nodes.transforms import validate_transform_source
from molmo_ros.planning import config as planner_config

DESCRIPTIONS = {
    "planner": "motion planner: embedded (runs anywhere) or moveit (moveit_py)",
    "planner_preset": "preset of config/planners.yaml for the chosen planner",
    "seed": "planning seed (IK restarts, OMPL sampling); the same seed gives the same plan",
    "point_service": "molmo_ros_interfaces/srv/Point service that finds the target",
    "point_timeout_s": "longest wait for the point service, seconds",
    "depth_topic": "depth image topic (16UC1 mm or 32FC1 m), registered to the colour camera",
    "camera_info_topic": "sensor_msgs/CameraInfo of the camera",
    "image_reliability": "QoS reliability of the camera subscriptions: best_effort or reliable",
    "joint_states_topic": "sensor_msgs/JointState topic of the arm and the fingers",
    "trajectory_topic": "trajectory_msgs/JointTrajectory topic of the arm controller",
    "gripper_service": "std_srvs/SetBool service: true closes the gripper, false opens it",
    "planning_frame": "frame of targets, grasps and plans (the robot base)",
    "static_transform": "camera optical frame in planning_frame as [x, y, z, qx, qy, qz, qw] (static source)",
    "transform_source": "camera pose in planning_frame from tf (tf2), static (static_transform) or auto",
    "workspace_min_radius": "targets closer than this to the base axis are unreachable, meters",
    "workspace_max_radius": "targets farther than this from the base axis are unreachable, meters",
    "workspace_min_z": "lowest target height, meters",
    "workspace_max_z": "highest target height, meters",
    "table_z": "expected table height in the planning frame, meters",
    "approach_distance": "pre-grasp height above the grasp, meters",
    "lift_distance": "how far the object is lifted, meters",
    "grasp_depth": "how far below the object's top the fingers close, meters",
    "execution_timeout_factor": "a motion may take this many times its planned duration",
    "execution_timeout_margin_s": "plus this many seconds",
    "goal_tolerance_rad": "largest joint error at the end of a motion, radians",
    "gripper_settle_s": "time for the fingers to close or open, seconds",
    "min_grasp_width": "a closed hand narrower than this holds nothing (GRASP_MISSED), meters",
    "max_attempts": "pick attempts per object in /molmo/pick_place (a miss re-points and tries again)",
    "place_clearance": "a placed object's bottom this far above what it is put on when released, meters",
    "place_wall_margin": "a placed object keeps this far from a container's wall, meters",
    "place_free_radius": "a place point on the table needs this much room around it, meters",
    "verify_radius": "after a place, a point this close to where the object was means it is still there, m",
}
# Read when the node starts (subscriptions, clients, the planner); every other parameter is read per goal.
AT_START = frozenset(
    {"planner", "planner_preset", "point_service", "transform_source", "depth_topic", "camera_info_topic",
     "image_reliability", "joint_states_topic", "trajectory_topic", "gripper_service"}
)  # fmt: skip


def validate_parameters(values: dict[str, Any]) -> None:
    """Raise ValueError naming the first parameter value that cannot work."""
    if values["planner"] not in planner_config.BACKENDS:
        raise ValueError(f"planner must be one of {planner_config.BACKENDS}, got {values['planner']!r}")
    planner_config.load_preset(values["planner"], values["planner_preset"])
    if values["image_reliability"] not in RELIABILITY:
        raise ValueError(f"image_reliability must be one of {sorted(RELIABILITY)}")
    validate_transform_source(values["transform_source"])
    if len(values["static_transform"]) != 7:
        raise ValueError("static_transform must be [x, y, z, qx, qy, qz, qw]")
    RigidTransform.from_xyz_quat(values["static_transform"][:3], values["static_transform"][3:], "a", "b")
    if not 0.0 <= values["workspace_min_radius"] < values["workspace_max_radius"]:
        raise ValueError("need 0 <= workspace_min_radius < workspace_max_radius")
    if not values["workspace_min_z"] < values["workspace_max_z"]:
        raise ValueError("need workspace_min_z < workspace_max_z")
    for name in ("approach_distance", "lift_distance", "grasp_depth", "point_timeout_s", "gripper_settle_s",
                 "place_clearance", "place_wall_margin", "place_free_radius", "verify_radius"):  # fmt: skip
        if values[name] <= 0:
            raise ValueError(f"{name} must be > 0, got {values[name]}")
    if not 1 <= values["max_attempts"] <= 10:
        raise ValueError("max_attempts must be 1-10")
    if values["execution_timeout_factor"] < 1.0:
        raise ValueError("execution_timeout_factor must be >= 1")
