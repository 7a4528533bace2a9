"""Gazebo (gz sim Harmonic) files for ROS users: the same tabletop as the MuJoCo scene, from the same layout.

- :func:`world_sdf`: an SDF world with the table, the objects of a layout and the fixed RGB-D camera (same pose,
  field of view and image size as config/sim.yaml). The robot is not part of the world: the launch file spawns
  the Panda from :func:`gazebo_urdf`.
- :func:`gazebo_urdf`: example-robot-data's Panda URDF with ``package://`` paths resolved (DAE visuals kept,
  Gazebo reads them) and Gazebo systems attached: a joint-trajectory controller on the arm controller's topic,
  a joint-position controller for the fingers, and a joint-state publisher.
- :func:`bridge_config`: the ros_gz_bridge mapping of the Gazebo topics to the MuJoCo bridge's ROS topics.

Differences from the MuJoCo bridge (Gazebo has no equivalent here): the gripper is a ``std_msgs/Float64``
finger-opening topic instead of the SetBool service, and there are no ResetScene / GetSceneState services.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from molmo_ros.sim import robot
from molmo_ros.sim.catalogue import COLOURS, Primitive
from molmo_ros.sim.config import SimConfig
from molmo_ros.sim.layout import TABLE_HALF_Y, TABLE_HEIGHT, TABLE_TOP_Z, TABLE_X, SceneLayout
from molmo_ros.sim.scene import look_at_xyaxes

WORLD_NAME = "tabletop"
#: Gazebo-side topics (relative names resolve under the world); the bridge maps them to ROS names.
GZ_CAMERA_TOPIC = "camera"
GZ_JOINT_STATE_TOPIC = "joint_states_gz"
GZ_TRAJECTORY_TOPIC = "joint_trajectory_gz"
GZ_GRIPPER_TOPIC = "gripper_gz"
#: ROS topic of the finger opening command in Gazebo (m per finger, 0-0.04).
ROS_GRIPPER_TOPIC = "/gripper/position"


def _fmt(values: Any) -> str:
    return " ".join(f"{float(v):.6g}" for v in values)


def _pose(position: Any, rotation: Rotation) -> str:
    # SDF poses are x y z roll pitch yaw with fixed axes (R = Rz Ry Rx): scipy's extrinsic "xyz".
    return _fmt([*position, *rotation.as_euler("xyz")])


def _geometry(parent: ET.Element, prim: Primitive) -> None:
    geometry = ET.SubElement(parent, "geometry")
    if prim.type == "box":
        ET.SubElement(ET.SubElement(geometry, "box"), "size").text = _fmt(2 * np.asarray(prim.size))
    elif prim.type == "cylinder":
        cylinder = ET.SubElement(geometry, "cylinder")
        ET.SubElement(cylinder, "radius").text = f"{prim.size[0]:.6g}"
        ET.SubElement(cylinder, "length").text = f"{2 * prim.size[1]:.6g}"
    elif prim.type == "sphere":
        ET.SubElement(ET.SubElement(geometry, "sphere"), "radius").text = f"{prim.size[0]:.6g}"
    else:
        raise ValueError(f"no SDF geometry for primitive type {prim.type!r}")


def _material(parent: ET.Element, rgba: Any) -> None:
    material = ET.SubElement(parent, "material")
    for tag in ("ambient", "diffuse"):
        ET.SubElement(material, tag).text = _fmt(rgba)


def _box_model(world: ET.Element, name: str, size: Any, pose: str, rgba: Any) -> None:
    model = ET.SubElement(world, "model", name=name)
    ET.SubElement(model, "static").text = "true"
    ET.SubElement(model, "pose").text = pose
    link = ET.SubElement(model, "link", name="link")
    prim = Primitive("box", tuple(0.5 * np.asarray(size)))
    for tag in ("collision", "visual"):
        element = ET.SubElement(link, tag, name=tag)
        _geometry(element, prim)
        if tag == "visual":
            _material(element, rgba)


def _object_model(world: ET.Element, obj: Any) -> None:
    model = ET.SubElement(world, "model", name=obj.name)
    ET.SubElement(model, "pose").text = _pose(obj.position, Rotation.from_euler("z", obj.yaw))
    link = ET.SubElement(model, "link", name="link")
    volume = sum(_volume(p) for p in obj.shape.primitives)
    inertial = ET.SubElement(link, "inertial")
    mass = obj.shape.density * volume
    ET.SubElement(inertial, "mass").text = f"{mass:.6g}"
    # Inertia of the solid bounding box: close enough for a small object pushed and lifted by the hand.
    ex, ey, ez = obj.shape.extents
    inertia = ET.SubElement(inertial, "inertia")
    for tag, (a, b) in (("ixx", (ey, ez)), ("iyy", (ex, ez)), ("izz", (ex, ey))):
        ET.SubElement(inertia, tag).text = f"{mass * (a * a + b * b) / 12.0:.6g}"
    for k, prim in enumerate(obj.shape.primitives):
        w, x, y, z = prim.quat
        pose = _pose(prim.pos, Rotation.from_quat([x, y, z, w]))
        collision = ET.SubElement(link, "collision", name=f"collision{k}")
        ET.SubElement(collision, "pose").text = pose
        _geometry(collision, prim)
        visual = ET.SubElement(link, "visual", name=f"visual{k}")
        ET.SubElement(visual, "pose").text = pose
        _geometry(visual, prim)
        _material(visual, COLOURS[obj.colour])


def _volume(prim: Primitive) -> float:
    if prim.type == "box":
        return 8.0 * prim.size[0] * prim.size[1] * prim.size[2]
    if prim.type == "cylinder":
        return math.pi * prim.size[0] ** 2 * 2.0 * prim.size[1]
    return 4.0 / 3.0 * math.pi * prim.size[0] ** 3


def _camera_model(world: ET.Element, config: SimConfig) -> None:
    right, up = look_at_xyaxes(config.camera_position, config.camera_target)
    forward = np.cross(up, right)
    # A Gazebo camera looks along its +x with z up (y to the left).
    rotation = Rotation.from_matrix(np.column_stack([forward, -right, up]))
    model = ET.SubElement(world, "model", name=config.camera_name)
    ET.SubElement(model, "static").text = "true"
    ET.SubElement(model, "pose").text = _pose(config.camera_position, rotation)
    link = ET.SubElement(model, "link", name="link")
    sensor = ET.SubElement(link, "sensor", name="rgbd", type="rgbd_camera")
    ET.SubElement(sensor, "topic").text = GZ_CAMERA_TOPIC
    ET.SubElement(sensor, "update_rate").text = f"{config.camera_rate:g}"
    ET.SubElement(sensor, "always_on").text = "true"
    camera = ET.SubElement(sensor, "camera")
    aspect = config.image_width / config.image_height
    # SDF takes the horizontal field of view; MuJoCo (and sim.yaml) the vertical one, square pixels.
    hfov = 2.0 * math.atan(aspect * math.tan(math.radians(config.camera_fovy) / 2.0))
    ET.SubElement(camera, "horizontal_fov").text = f"{hfov:.6g}"
    ET.SubElement(camera, "optical_frame_id").text = config.camera_frame
    image = ET.SubElement(camera, "image")
    ET.SubElement(image, "width").text = str(config.image_width)
    ET.SubElement(image, "height").text = str(config.image_height)
    ET.SubElement(image, "format").text = "R8G8B8"
    clip = ET.SubElement(camera, "clip")
    ET.SubElement(clip, "near").text = "0.02"
    ET.SubElement(clip, "far").text = "10"


def world_sdf(layout: SceneLayout, config: SimConfig) -> str:
    """SDF 1.9 world text: physics at config.timestep, lights, table, the layout's objects and the camera."""
    sdf = ET.Element("sdf", version="1.9")
    world = ET.SubElement(sdf, "world", name=WORLD_NAME)
    physics = ET.SubElement(world, "physics", name="default", type="dart")
    ET.SubElement(physics, "max_step_size").text = f"{config.timestep:g}"
    ET.SubElement(physics, "real_time_factor").text = f"{config.real_time_factor or 1.0:g}"
    for system in ("physics", "user-commands", "scene-broadcaster", "sensors", "contact"):
        name = "".join(part.capitalize() for part in system.split("-"))
        plugin = ET.SubElement(
            world, "plugin", filename=f"gz-sim-{system}-system", name=f"gz::sim::systems::{name}"
        )
        if system == "sensors":
            ET.SubElement(plugin, "render_engine").text = "ogre2"
    light = ET.SubElement(world, "light", type="directional", name="key")
    ET.SubElement(light, "cast_shadows").text = "true"
    ET.SubElement(light, "pose").text = "0.6 -0.5 2 0 0 0"
    ET.SubElement(light, "diffuse").text = "0.8 0.8 0.8 1"
    ET.SubElement(light, "direction").text = "-0.1 0.25 -1"
    _box_model(
        world,
        "floor",
        (6.0, 6.0, 0.02),
        f"0 0 {TABLE_TOP_Z - TABLE_HEIGHT - 0.01:g} 0 0 0",
        (0.3, 0.31, 0.33, 1),
    )
    table_size = (TABLE_X[1] - TABLE_X[0], 2 * TABLE_HALF_Y, 0.05)
    _box_model(
        world,
        "table",
        table_size,
        f"{0.5 * (TABLE_X[0] + TABLE_X[1]):g} 0 {TABLE_TOP_Z - 0.025:g} 0 0 0",
        (0.72, 0.6, 0.46, 1),
    )
    _camera_model(world, config)
    for obj in layout.objects:
        _object_model(world, obj)
    ET.indent(sdf)
    return '<?xml version="1.0"?>\n' + ET.tostring(sdf, encoding="unicode") + "\n"


def gazebo_urdf(config: SimConfig) -> str:
    """The Panda URDF for Gazebo: package:// paths resolved, controllers and a joint-state publisher attached."""
    urdf = robot.resolved_urdf(drop_dae_visuals=False)
    for mesh in urdf.iter("mesh"):
        mesh.set("filename", "file://" + mesh.get("filename", ""))
    # Fix the base to the world at the origin (the table top), as in the MuJoCo scene.
    ET.SubElement(urdf, "link", name="world")
    joint = ET.SubElement(urdf, "joint", name="world_joint", type="fixed")
    ET.SubElement(joint, "parent", link="world")
    ET.SubElement(joint, "child", link="panda_link0")
    gazebo = ET.SubElement(urdf, "gazebo")
    trajectory = ET.SubElement(
        gazebo,
        "plugin",
        filename="gz-sim-joint-trajectory-controller-system",
        name="gz::sim::systems::JointTrajectoryController",
    )
    ET.SubElement(trajectory, "topic").text = GZ_TRAJECTORY_TOPIC
    for name, gains in zip(robot.ARM_JOINTS, robot.ARM_GAINS, strict=True):
        ET.SubElement(trajectory, "joint_name").text = name
        ET.SubElement(
            trajectory, "initial_position"
        ).text = f"{robot.HOME_ARM[robot.ARM_JOINTS.index(name)]:g}"
        ET.SubElement(trajectory, "position_p_gain").text = f"{gains.kp:g}"
        ET.SubElement(trajectory, "position_d_gain").text = f"{0.05 * gains.kp:g}"
    for finger in robot.FINGER_JOINTS:
        grip = ET.SubElement(
            gazebo,
            "plugin",
            filename="gz-sim-joint-position-controller-system",
            name="gz::sim::systems::JointPositionController",
        )
        ET.SubElement(grip, "joint_name").text = finger
        ET.SubElement(grip, "topic").text = GZ_GRIPPER_TOPIC
        ET.SubElement(grip, "p_gain").text = "200"
        ET.SubElement(grip, "cmd_max").text = f"{config.gripper_force:g}"
        ET.SubElement(grip, "cmd_min").text = f"{-config.gripper_force:g}"
    states = ET.SubElement(
        gazebo,
        "plugin",
        filename="gz-sim-joint-state-publisher-system",
        name="gz::sim::systems::JointStatePublisher",
    )
    ET.SubElement(states, "topic").text = GZ_JOINT_STATE_TOPIC
    ET.indent(urdf)
    return ET.tostring(urdf, encoding="unicode")


def bridge_config(config: SimConfig) -> list[dict[str, str]]:
    """ros_gz_bridge entries (its YAML format) mapping the Gazebo topics to the MuJoCo bridge's ROS topics."""

    def entry(ros: str, gz: str, ros_type: str, gz_type: str, direction: str) -> dict[str, str]:
        return {
            "ros_topic_name": ros,
            "gz_topic_name": gz,
            "ros_type_name": ros_type,
            "gz_type_name": gz_type,
            "direction": direction,
        }

    camera = GZ_CAMERA_TOPIC
    return [
        entry(config.color_topic, f"{camera}/image", "sensor_msgs/msg/Image", "gz.msgs.Image", "GZ_TO_ROS"),
        entry(
            config.depth_topic, f"{camera}/depth_image", "sensor_msgs/msg/Image", "gz.msgs.Image", "GZ_TO_ROS"
        ),
        entry(
            config.camera_info_topic,
            f"{camera}/camera_info",
            "sensor_msgs/msg/CameraInfo",
            "gz.msgs.CameraInfo",
            "GZ_TO_ROS",
        ),
        entry(
            config.joint_states_topic,
            GZ_JOINT_STATE_TOPIC,
            "sensor_msgs/msg/JointState",
            "gz.msgs.Model",
            "GZ_TO_ROS",
        ),
        entry(config.clock_topic, "/clock", "rosgraph_msgs/msg/Clock", "gz.msgs.Clock", "GZ_TO_ROS"),
        entry(
            config.trajectory_topic,
            GZ_TRAJECTORY_TOPIC,
            "trajectory_msgs/msg/JointTrajectory",
            "gz.msgs.JointTrajectory",
            "ROS_TO_GZ",
        ),
        entry(ROS_GRIPPER_TOPIC, GZ_GRIPPER_TOPIC, "std_msgs/msg/Float64", "gz.msgs.Double", "ROS_TO_GZ"),
    ]


def bridge_yaml(config: SimConfig) -> str:
    import yaml

    header = (
        "# ros_gz_bridge topics of launch/sim_gazebo.launch.py: Gazebo -> the same ROS names as the MuJoCo\n"
        "# bridge (config/sim.yaml). Generated by `python -m molmo_ros.sim.gazebo`; a test keeps it in sync.\n"
    )
    return header + yaml.safe_dump(bridge_config(config), sort_keys=False)


def main() -> None:
    """Regenerate config/gazebo/tabletop.sdf (the default seed's scene) and config/gazebo/bridge.yaml."""
    from molmo_ros.config import config_dir
    from molmo_ros.sim.config import load_sim_config
    from molmo_ros.sim.layout import sample_layout

    config = load_sim_config()
    folder = config_dir() / "gazebo"
    folder.mkdir(exist_ok=True)
    (folder / "tabletop.sdf").write_text(world_sdf(sample_layout(config.seed, config), config))
    (folder / "bridge.yaml").write_text(bridge_yaml(config))
    print(f"wrote {folder / 'tabletop.sdf'} and {folder / 'bridge.yaml'}")


if __name__ == "__main__":
    main()
