"""End to end with the shipped model: the pointer node loads the bundled molmo2-tiny-sim checkpoint (the
README's first command), the model's point is lifted into 3D and the named object is picked: the test fails
when the arm lifts another object (the simulation's ground truth says which one rose)."""

from __future__ import annotations

import pytest

from molmo_ros.cli.outcomes import outcome
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


def test_the_bundled_model_picks_the_named_object(session):
    assert session.pointer._model.describe()["model"] == str(bundled_model_dir())  # the default model
    stages = []
    result, _ = session.pick("the red cup", 180.0, lambda msg: stages.append(msg.feedback.stage))
    record = outcome(result, session.scene_state(), "the red cup")
    assert record["error"] is None, record
    assert stages[0] == "pointing" and "lifting" in stages
    # The named object rose, and it is the one that did (the model pointed at it, not at a neighbour).
    assert record["target_object"] == "red_cup", record
    assert record["lifted_object"] == record["target_object"], record
    assert record["success"] is True, record
    lifted = next(o for o in session.scene_state().objects if o.name == "red_cup")
    assert lifted.height_above_rest > 0.05
