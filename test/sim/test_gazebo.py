"""Gazebo world and bridge configuration: well-formed and consistent with the MuJoCo bridge.

Gazebo is not installed here, so these files are checked as data: the SDF parses and matches the MuJoCo scene,
and the ros_gz_bridge YAML maps to the ROS names of config/sim.yaml. The launch files are loaded by the real
launch library in test/packaging/test_launch_files.py.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import yaml

from molmo_ros.config import config_dir
from molmo_ros.sim.config import load_sim_config
from molmo_ros.sim.gazebo import bridge_yaml, gazebo_urdf, world_sdf
from molmo_ros.sim.layout import sample_layout

CONFIG = load_sim_config()
GAZEBO = config_dir() / "gazebo"


def test_committed_world_and_bridge_are_up_to_date():
    expected = world_sdf(sample_layout(CONFIG.seed, CONFIG), CONFIG)
    assert (GAZEBO / "tabletop.sdf").read_text() == expected, "run: python -m molmo_ros.sim.gazebo"
    assert (GAZEBO / "bridge.yaml").read_text() == bridge_yaml(CONFIG), "run: python -m molmo_ros.sim.gazebo"


def test_world_has_the_table_objects_and_the_same_camera():
    world = ET.parse(GAZEBO / "tabletop.sdf").getroot().find("world")
    assert float(world.find("physics/max_step_size").text) <= 0.002
    models = {m.get("name"): m for m in world.findall("model")}
    layout = sample_layout(CONFIG.seed, CONFIG)
    assert {"table", CONFIG.camera_name, *layout.names()} <= set(models)
    for obj in layout.objects:
        pose = [float(v) for v in models[obj.name].find("pose").text.split()]
        np.testing.assert_allclose(pose[:3], obj.position, atol=1e-5)
        assert pose[5] == pytest.approx(math.remainder(obj.yaw, 2 * math.pi), abs=1e-5)
    sensor = models[CONFIG.camera_name].find("link/sensor")
    assert sensor.get("type") == "rgbd_camera"
    camera = sensor.find("camera")
    assert (int(camera.find("image/width").text), int(camera.find("image/height").text)) == (
        CONFIG.image_width,
        CONFIG.image_height,
    )
    # Same focal length in pixels as the MuJoCo camera: hfov (SDF) and fovy (MuJoCo) describe one pinhole.
    fx = 0.5 * CONFIG.image_width / math.tan(0.5 * float(camera.find("horizontal_fov").text))
    fy = 0.5 * CONFIG.image_height / math.tan(0.5 * math.radians(CONFIG.camera_fovy))
    assert fx == pytest.approx(fy, rel=1e-5)
    assert camera.find("optical_frame_id").text == CONFIG.camera_frame
    pose = [float(v) for v in models[CONFIG.camera_name].find("pose").text.split()]
    np.testing.assert_allclose(pose[:3], CONFIG.camera_position)


def test_bridge_maps_to_the_mujoco_bridge_topic_names():
    entries = yaml.safe_load((GAZEBO / "bridge.yaml").read_text())
    ros_topics = {e["ros_topic_name"]: e for e in entries}
    for name in (
        "color_topic",
        "depth_topic",
        "camera_info_topic",
        "joint_states_topic",
        "clock_topic",
        "trajectory_topic",
    ):
        assert getattr(CONFIG, name) in ros_topics, name
    assert ros_topics[CONFIG.trajectory_topic]["direction"] == "ROS_TO_GZ"
    assert ros_topics[CONFIG.color_topic]["direction"] == "GZ_TO_ROS"
    assert all(
        set(e) == {"ros_topic_name", "gz_topic_name", "ros_type_name", "gz_type_name", "direction"}
        for e in entries
    )


def test_gazebo_urdf_resolves_meshes_and_attaches_controllers():
    urdf = ET.fromstring(gazebo_urdf(CONFIG))
    files = [m.get("filename") for m in urdf.iter("mesh")]
    assert files and all(f.startswith("file:///") for f in files)
    plugins = [p.get("name") for p in urdf.iter("plugin")]
    assert "gz::sim::systems::JointTrajectoryController" in plugins
    assert "gz::sim::systems::JointStatePublisher" in plugins
