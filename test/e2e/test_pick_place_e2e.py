"""End to end, pick and place: the simulation bridge, the ground-truth point source and the pick node as real
ROS 2 nodes (molmo_ros.cli.session.PickSession) serving /molmo/pick_place in seeded place and sort scenes.
Each test judges the outcome from the simulation's ground truth (where the objects are afterwards)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from action_msgs.msg import GoalStatus
from geometry_msgs.msg import PoseStamped
from rclpy.parameter import Parameter

from molmo_ros.cli.outcomes import at_destination, place_outcome
from molmo_ros.planning.pick_place_goal import PLACE_STAGES
from molmo_ros_interfaces.action import PickPlace
from molmo_ros_interfaces.msg import Error
from support.ros import pick_session, wait_for

pytestmark = [pytest.mark.ros, pytest.mark.slow]

PLACE_SEED = 12  # place layout: blue bowl, red cup, black can, green mug, black block
SORT_SEED = 1004  # sort layout: red bowl, cyan block, green block


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    with pick_session(
        str(tmp_path_factory.mktemp("sim_cache")), PLACE_SEED, True, (211, 230), layout="place"
    ) as s:
        yield s


def reset(session, layout: str, seed: int):
    assert session.bridge.set_parameters([Parameter("layout", value=layout)])[0].successful
    session.reset(seed)
    return session.scene_state()


def obj(state, name: str):
    return next(o for o in state.objects if o.name == name)


def test_the_named_object_ends_in_the_bowl(session):
    before = reset(session, "place", PLACE_SEED)
    stages = []
    result, status = session.pick_place(
        "the red cup", "the blue bowl", 300.0, lambda m: stages.append(m.feedback.stage)
    )
    after = session.scene_state()
    record = place_outcome(result, before, after, "the red cup", "the blue bowl")
    assert record["success"], record
    assert record["moved_objects"] == ["red_cup"] and not record["wrongly_moved"]
    assert status == GoalStatus.STATUS_SUCCEEDED and result.outcome == PickPlace.Result.OUTCOME_SUCCESS
    (moved,) = result.objects
    assert moved.error.code == Error.OK and moved.verified, moved.verification
    assert set(PLACE_STAGES) <= set(stages)
    # Released above the bowl's floor, not dropped from the lift height.
    assert moved.placed_at.point.z < 0.05
    for name in ("black_can", "green_mug", "black_block"):  # the others stayed where they were
        a, b = obj(before, name).pose.position, obj(after, name).pose.position
        assert math.hypot(a.x - b.x, a.y - b.y) < 0.01, name


def test_all_the_blocks_go_into_the_bowl(session):
    before = reset(session, "sort", SORT_SEED)
    result, status = session.pick_place("all the blocks", "the bowl", 400.0)
    after = session.scene_state()
    record = place_outcome(result, before, after, "all the blocks", "the bowl")
    assert record["success"], record
    assert sorted(record["moved_objects"]) == ["cyan_block", "green_block"]
    assert status == GoalStatus.STATUS_SUCCEEDED and result.moved == 2
    assert all(o.verified for o in result.objects), [o.verification for o in result.objects]


def free_spot(state, away_from: str) -> tuple[float, float]:
    """A spot in the middle of the table with the most room around it, at least 10 cm from `away_from` (the
    middle: the camera sees an object there well enough for a grasp)."""
    here = obj(state, away_from).pose.position
    best, room = None, -1.0
    for x in np.linspace(0.46, 0.6, 5):
        for y in np.linspace(-0.2, 0.2, 9):
            if math.hypot(x - here.x, y - here.y) < 0.1 or not 0.35 < math.hypot(x, y) < 0.7:
                continue
            gap = min(
                math.hypot(x - o.pose.position.x, y - o.pose.position.y) - 0.5 * o.extents.x
                for o in state.objects
                if o.name != away_from
            )
            if gap > room:
                best, room = (float(x), float(y)), gap
    return best


def test_a_grasp_that_misses_is_recovered_by_pointing_again(session):
    before = reset(session, "place", PLACE_SEED)
    spot = free_spot(before, "red_cup")
    moved = []

    def take_the_cup_away(msg) -> None:
        # Once the first approach is under way, someone moves the cup to another free spot on the table.
        f = msg.feedback
        if f.stage == "approaching" and f.attempt == 1 and not moved:
            with session.bridge._lock:
                session.bridge.sim.move_object("red_cup", spot)
            moved.append(True)

    result, status = session.pick_place("the red cup", "the blue bowl", 400.0, take_the_cup_away)
    after = session.scene_state()
    assert moved
    record = place_outcome(result, before, after, "the red cup", "the blue bowl")
    assert record["success"], record
    (cup,) = result.objects
    assert cup.attempts == 2, cup.error.message
    assert math.hypot(cup.picked_from.point.x - spot[0], cup.picked_from.point.y - spot[1]) < 0.02
    assert status == GoalStatus.STATUS_SUCCEEDED


def test_an_absent_place_target_is_not_found_before_anything_is_picked(session):
    before = reset(session, "place", PLACE_SEED)
    result, status = session.pick_place("the red cup", "the purple bowl", 60.0)
    assert status == GoalStatus.STATUS_ABORTED
    assert result.error.code == Error.NOT_FOUND, result.error.message
    assert list(result.stage_names) == ["pointing"] and result.moved == 0
    after = session.scene_state()
    assert not after.grasped
    assert abs(obj(after, "red_cup").pose.position.x - obj(before, "red_cup").pose.position.x) < 1e-3


def test_an_unreachable_place_pose_is_refused_and_nothing_is_dropped(session):
    reset(session, "place", PLACE_SEED)
    pose = PoseStamped()
    pose.pose.position.x = 1.3  # beyond the arm's reach
    result, status = session.pick_place("the red cup", "", 60.0, place_pose=pose)
    assert status == GoalStatus.STATUS_ABORTED
    assert result.error.code == Error.UNREACHABLE, result.error.message
    assert list(result.stage_names) == ["pointing", "locating"]
    state = session.scene_state()
    assert not state.grasped and abs(obj(state, "red_cup").height_above_rest) < 0.005


def test_a_cancel_while_carrying_stops_the_arm_and_keeps_the_object_in_the_hand(session):
    reset(session, "place", PLACE_SEED)
    handle_box: dict = {}

    def cancel_when_carrying(msg) -> None:
        if msg.feedback.stage == "transporting" and "sent" not in handle_box:
            handle_box["sent"] = True

    from molmo_ros_interfaces.action import PickPlace as Action

    assert session.place_action.wait_for_server(timeout_sec=10.0)
    holder: dict = {}
    sent = session.place_action.send_goal_async(
        Action.Goal(query="the red cup", place_query="the blue bowl"), feedback_callback=cancel_when_carrying
    )
    wait_for(sent.done, 10.0, "the goal to be accepted")
    handle = sent.result()
    handle.get_result_async().add_done_callback(lambda f: holder.setdefault("result", f.result()))
    wait_for(lambda: "sent" in handle_box, 300.0, "the transport to start")
    handle.cancel_goal_async()
    wait_for(lambda: "result" in holder, 60.0, "the canceled goal's result")
    wrapped = holder["result"]
    assert wrapped.status == GoalStatus.STATUS_CANCELED
    assert wrapped.result.error.code == Error.CANCELED, wrapped.result.error.message
    assert wrapped.result.stage_names[-1] == "transporting"
    # Some simulated time later the cup is still in the hand, up in the air: not dropped.
    stamp = session.scene_state().stamp.sec
    wait_for(lambda: session.scene_state().stamp.sec >= stamp + 1, 30.0, "a simulated second")
    state = session.scene_state()
    assert state.grasped == "red_cup"
    assert obj(state, "red_cup").height_above_rest > 0.05
    assert not at_destination(obj(state, "red_cup"), obj(state, "blue_bowl"))


def test_a_goal_while_another_runs_is_rejected_on_both_actions(session):
    from molmo_ros_interfaces.action import Pick

    reset(session, "place", PLACE_SEED)
    stages: list[str] = []
    holder: dict = {}
    sent = session.place_action.send_goal_async(
        PickPlace.Goal(query="the red cup", place_query="the blue bowl"),
        feedback_callback=lambda m: stages.append(m.feedback.stage),
    )
    wait_for(sent.done, 10.0, "the goal to be accepted")
    running = sent.result()
    running.get_result_async().add_done_callback(lambda f: holder.setdefault("result", f.result()))
    wait_for(lambda: "approaching" in stages, 120.0, "the arm to start moving")
    for client, goal in ((session.action, Pick.Goal(query="the black can")),
                         (session.place_action, PickPlace.Goal(query="the black can", place_query="the bowl"))):  # fmt: skip
        second = client.send_goal_async(goal)
        wait_for(second.done, 10.0, "the answer to the second goal")
        assert not second.result().accepted  # one arm: refused while a goal runs
    running.cancel_goal_async()
    wait_for(lambda: "result" in holder, 60.0, "the first goal's result")
    assert holder["result"].status == GoalStatus.STATUS_CANCELED
