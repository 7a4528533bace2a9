"""The pick's node graph (shared by pick.launch.py and molmo-ros pick), as plain data."""

from __future__ import annotations

import pytest

from molmo_ros.bringup.graph import pick_graph, sim_camera


def by_name(specs):
    return {s.name: s for s in specs}


def test_the_mujoco_graph_places_the_camera_once_for_both_nodes():
    nodes = by_name(pick_graph("mujoco", "model", pointer_overrides={"autostart": False}))
    assert list(nodes) == ["sim_bridge", "molmo_pointer", "molmo_pick"]
    camera, world = sim_camera()
    for name in ("molmo_pointer", "molmo_pick"):
        assert nodes[name].overrides["static_transform"] == camera
        assert nodes[name].overrides["use_sim_time"] is True
    assert nodes["molmo_pointer"].overrides["target_frame"] == world
    assert nodes["molmo_pick"].overrides["planning_frame"] == world
    assert nodes["molmo_pointer"].overrides["autostart"] is False
    assert all(
        s.load_class().__name__ in ("SimBridgeNode", "PointerNode", "PickNode") for s in nodes.values()
    )


def test_robot_state_publisher_joins_where_it_is_installed():
    nodes = by_name(pick_graph("mujoco", "oracle", robot_state_publisher=True))
    rsp = nodes["robot_state_publisher"]
    assert rsp.package == "robot_state_publisher" and rsp.node_class == "" and rsp.config_file == ""
    assert (
        "<robot" in rsp.overrides["robot_description"]
        and "panda_joint7" in rsp.overrides["robot_description"]
    )
    assert rsp.overrides["use_sim_time"] is True
    assert "robot_state_publisher" not in by_name(pick_graph("none", "model", robot_state_publisher=True))


def test_a_real_camera_keeps_the_yaml_pose_and_wall_time():
    nodes = by_name(
        pick_graph("none", "model", static_transform=[0, 0, 1, 0, 0, 0, 1], planning_frame="base")
    )
    assert list(nodes) == ["molmo_pointer", "molmo_pick"]
    assert nodes["molmo_pick"].overrides == {
        "use_sim_time": False,
        "static_transform": [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        "planning_frame": "base",
    }


@pytest.mark.parametrize(
    ("sim", "source", "words"),
    [("webots", "model", "sim must be one of"), ("gazebo", "model", "SetBool"), ("none", "oracle", "ground truth"),
     ("mujoco", "dice", "point_source")],
)  # fmt: skip
def test_graphs_that_cannot_work_are_refused_with_the_reason(sim, source, words):
    with pytest.raises(ValueError, match=words):
        pick_graph(sim, source)
