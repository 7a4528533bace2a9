"""config/robot/*.yaml agree with the robot description (example-robot-data) the simulator uses."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import yaml

from molmo_ros.config import config_path
from molmo_ros.sim import robot


def _urdf_limits() -> dict[str, dict[str, float]]:
    urdf = ET.parse(robot.panda_urdf_path()).getroot()
    return {
        j.get("name"): {k: float(v) for k, v in j.find("limit").attrib.items()}
        for j in urdf.iter("joint")
        if j.find("limit") is not None
    }


def test_joint_limits_match_the_urdf():
    limits = yaml.safe_load(config_path("robot/joint_limits.yaml").read_text())["joint_limits"]
    urdf = _urdf_limits()
    assert set(limits) == set(robot.ARM_JOINTS) | set(robot.FINGER_JOINTS)
    for name, entry in limits.items():
        assert entry["has_velocity_limits"] and entry["max_velocity"] == urdf[name]["velocity"], name
        if name in robot.ARM_JOINTS:
            assert entry["has_acceleration_limits"] and 0.0 < entry["max_acceleration"] <= 20.0


def test_kinematics_groups_cover_the_srdf_arm_group():
    groups = yaml.safe_load(config_path("robot/kinematics.yaml").read_text())
    srdf = ET.parse(robot.panda_srdf_path()).getroot()
    arm_groups = {g.get("name") for g in srdf.iter("group") if g.find("joint") is not None}
    assert "arm" in arm_groups and "arm" in groups and "panda_arm" in groups
    assert all("kinematics_solver" in g for g in groups.values())
