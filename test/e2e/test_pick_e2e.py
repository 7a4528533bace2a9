"""End to end: the simulation bridge, the ground-truth point source and the pick node as real ROS 2 nodes
(molmo_ros.cli.pick.PickSession), picking named objects in seeded scenes; bad requests end with their error
codes and the nodes keep serving."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("molmo_ros_interfaces.action")
pytest.importorskip("mujoco")
pytest.importorskip("pinocchio")

import rclpy

from molmo_ros.cli.pick import PickSession, outcome
from molmo_ros_interfaces.msg import Error

pytestmark = [pytest.mark.ros, pytest.mark.slow]

SEED = 12  # black block, red cup, black ball, green bowl, blue can


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=random.randint(201, 230))
    sim = {
        "seed": SEED,
        "image_width": 320,
        "image_height": 240,
        "real_time_factor": 0.0,
        "cache_dir": str(tmp_path_factory.mktemp("sim_cache")),
    }
    s = PickSession(sim, {"planner_preset": "fast"}, oracle=True, context=context, record=False)
    s.wait_for_camera()
    yield s
    s.close()
    rclpy.shutdown(context=context)


def test_picks_the_named_object(session):
    stages = []
    result, _ = session.pick("the red cup", 180.0, lambda msg: stages.append(msg.feedback.stage))
    record = outcome(result, session.scene_state(), "the red cup")
    assert record["success"], record
    assert record["lifted_object"] == "red_cup"
    assert list(record["timings_ms"]) == [
        "pointing",
        "locating",
        "planning",
        "approaching",
        "grasping",
        "lifting",
    ]
    for stage in ("pointing", "locating", "planning", "approaching", "grasping", "lifting"):
        assert stage in stages
    red_cup = next(o for o in session.scene_state().objects if o.name == "red_cup")
    assert red_cup.height_above_rest > 0.05


def test_an_absent_object_is_not_found_and_the_nodes_keep_serving(session):
    session.reset(SEED)
    result, _ = session.pick("the purple elephant", 60.0)
    assert not result.success
    assert result.error.code == Error.NOT_FOUND
    result, _ = session.pick("", 60.0)
    assert result.error.code == Error.INVALID_REQUEST
    # Still serving: a real pick right after the failures.
    result, _ = session.pick("the blue can", 180.0)
    record = outcome(result, session.scene_state(), "the blue can")
    assert record["success"], record
