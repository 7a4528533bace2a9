"""The Panda robot file generated from example-robot-data keeps MoveIt's names and Menagerie's structure."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import mujoco
import numpy as np
import pytest

from molmo_ros.sim import robot


@pytest.fixture(scope="module")
def panda(sim_config):
    path = robot.robot_file(sim_config.resolved_cache_dir)
    return path, mujoco.MjModel.from_xml_path(str(path))


def test_package_uris_resolve_to_installed_meshes():
    urdf = robot.resolved_urdf()
    files = [m.get("filename") for m in urdf.iter("mesh")]
    assert files and all(not f.startswith("package://") for f in files)
    assert not any(f.lower().endswith(".dae") for f in files)
    for f in files:
        assert (robot.robot_data_root() / f).is_file() or __import__("pathlib").Path(f).is_file()
    assert robot.resolve_package_uri("file:///x.stl") == "file:///x.stl"


def test_moveit_joint_and_link_names(panda):
    _, model = panda
    joints = [model.joint(i).name for i in range(model.njnt)]
    assert joints == [*robot.ARM_JOINTS, *robot.FINGER_JOINTS]
    bodies = {model.body(i).name for i in range(model.nbody)}
    assert {f"panda_link{i}" for i in range(9)} | {"panda_hand", *robot.FINGER_BODIES} <= bodies


def test_actuators_limits_and_gripper(panda):
    _, model = panda
    names = [model.actuator(i).name for i in range(model.nu)]
    assert names == [*robot.ARM_JOINTS, robot.GRIPPER_ACTUATOR]
    # Arm servos inherit the URDF joint limits as their control range.
    for i, joint in enumerate(robot.ARM_JOINTS):
        np.testing.assert_allclose(model.actuator_ctrlrange[i], model.joint(joint).range)
    np.testing.assert_allclose(model.actuator_ctrlrange[-1], [0.0, robot.FINGER_OPEN])
    assert model.neq == 1  # the URDF's mimic finger


def test_visual_and_collision_geoms_are_separate_classes(panda):
    path, model = panda
    visual = [i for i in range(model.ngeom) if model.geom_group[i] == 2]
    collision = [i for i in range(model.ngeom) if model.geom_group[i] == 3]
    assert visual and collision and len(visual) + len(collision) == model.ngeom
    assert all(model.geom_contype[i] == 0 and model.geom_conaffinity[i] == 0 for i in visual)
    assert all(model.geom_contype[i] == 1 for i in collision)
    classes = {e.get("class") for e in ET.parse(path).getroot().iter("default")}
    assert {"panda", "panda_visual", "panda_collision"} <= classes


def test_srdf_pairs_are_excluded_from_contacts(panda):
    _, model = panda
    excluded = {
        (
            model.body(model.exclude_signature[i] >> 16).name,
            model.body(model.exclude_signature[i] & 0xFFFF).name,
        )
        for i in range(model.nexclude)
    }
    assert ("panda_link5", "panda_link7") in excluded or ("panda_link7", "panda_link5") in excluded
