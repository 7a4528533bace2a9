"""End to end with the shipped model: the pointer node loads the bundled molmo2-tiny-sim checkpoint (the
README's first command), the model's point is lifted into 3D and picked. The model reaches a pointing F1 of
0.22 on held-out scenes (its eval.json), so the test asserts that the model drives a whole pick onto a real
object, not that it picks the named one."""

from __future__ import annotations

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("molmo_ros_interfaces.action")
pytest.importorskip("mujoco")
pytest.importorskip("pinocchio")


from molmo_ros.cli.pick import outcome
from molmo_ros.models.transformers_backend import bundled_model_dir
from support.ros import pick_session

pytestmark = [pytest.mark.ros, pytest.mark.slow]

SEED = 12  # the README's first command: black block, red cup, black ball, green bowl, blue can


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    with pick_session(
        str(tmp_path_factory.mktemp("sim_cache")), SEED, oracle=False, domain_ids=(231, 232)
    ) as s:
        yield s


def test_the_bundled_model_drives_a_pick_onto_an_object(session):
    assert session.pointer._model.describe()["model"] == str(bundled_model_dir())  # the default model
    stages = []
    result, _ = session.pick("the red cup", 180.0, lambda msg: stages.append(msg.feedback.stage))
    record = outcome(result, session.scene_state(), "the red cup")
    assert record["error"] is None, record
    assert stages[0] == "pointing" and "lifting" in stages
    # The model's point fell on an object the gripper then lifted (the table or the floor lifts nothing).
    assert record["lifted_object"] is not None, record
    lifted = next(o for o in session.scene_state().objects if o.name == record["lifted_object"])
    assert lifted.height_above_rest > 0.05
