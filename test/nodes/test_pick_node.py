"""The pick node with real rclpy: each bad request ends its goal with the right code, and the node keeps
serving. The point source here is a small scripted /molmo/point service (the real pointer node and the
simulation are exercised end to end in test/e2e)."""

from __future__ import annotations

import threading

import pytest
from geometry_msgs.msg import PointStamped
from rclpy.action import ActionClient
from rclpy.parameter import Parameter

from molmo_ros.nodes.pick import ACTION_NAME, PickNode, validate_parameters
from molmo_ros_interfaces.action import Pick
from molmo_ros_interfaces.msg import Error, PixelPoint
from molmo_ros_interfaces.srv import Point
from support.ros import wait_for

pytestmark = pytest.mark.ros


class ScriptedPointSource:
    """A /molmo/point service answering what the test scripts: an error code, or one point."""

    def __init__(self, node) -> None:
        self.code = Error.OK
        self.point = (0.5, 0.0, 0.05)
        self.depth_valid = True
        self.queries: list[str] = []
        node.create_service(Point, "/molmo/point", self._answer)

    def _answer(self, request, response):
        self.queries.append(request.query)
        if self.code != Error.OK:
            response.success = False
            response.error = Error(code=self.code, message="scripted")
            return response
        stamped = PointStamped()
        stamped.header.frame_id = request.target_frame
        stamped.point.x, stamped.point.y, stamped.point.z = self.point
        response.points.append(stamped)
        response.pixel_points.append(PixelPoint(x=10.0, y=10.0, label="thing"))
        response.depth_valid.append(self.depth_valid)
        response.success = True
        response.error = Error(code=Error.OK, message="")
        return response


@pytest.fixture(scope="module")
def rig(ros_module_context, spinner):
    import rclpy

    pick = PickNode(
        context=ros_module_context, parameter_overrides=[Parameter("planner_preset", value="fast")]
    )
    helper = rclpy.create_node("pick_test_helper", context=ros_module_context)
    source = ScriptedPointSource(helper)
    source.pick = pick
    spinner.add(pick)
    spinner.add(helper)
    client = ActionClient(helper, Pick, ACTION_NAME)
    assert client.wait_for_server(timeout_sec=10.0)
    yield client, source
    spinner.executor.remove_node(pick)
    spinner.executor.remove_node(helper)
    pick.destroy_node()
    helper.destroy_node()


def run_goal(client, query: str, timeout_s: float = 30.0):
    done = threading.Event()
    holder = {}

    def on_goal(future):
        handle = future.result()
        assert handle.accepted
        handle.get_result_async().add_done_callback(
            lambda f: (holder.setdefault("r", f.result()), done.set())
        )

    client.send_goal_async(Pick.Goal(query=query)).add_done_callback(on_goal)
    wait_for(done.is_set, timeout_s, f"the result of {query!r}")
    return holder["r"].result


@pytest.mark.parametrize(
    ("script", "code"),
    [
        ({"code": Error.NOT_FOUND}, Error.NOT_FOUND),
        ({"code": Error.MODEL_UNAVAILABLE}, Error.MODEL_UNAVAILABLE),
        ({"depth_valid": False}, Error.NO_DEPTH),
        ({"point": (1.5, 0.0, 0.05)}, Error.UNREACHABLE),
        ({"point": (0.02, 0.0, 0.05)}, Error.UNREACHABLE),
        # A reachable target, but no camera has published: nothing to locate it in.
        ({}, Error.NO_DEPTH),
    ],
)
def test_bad_requests_end_with_their_code(rig, script, code):
    client, source = rig
    source.code, source.point, source.depth_valid = Error.OK, (0.5, 0.0, 0.05), True
    for name, value in script.items():
        setattr(source, name, value)
    result = run_goal(client, "the purple elephant")
    assert not result.success
    assert result.error.code == code, result.error.message
    assert result.error.message
    assert "pointing" in result.stage_names


def test_an_empty_query_is_invalid_and_the_node_keeps_serving(rig):
    client, source = rig
    asked = len(source.queries)
    result = run_goal(client, "   ")
    assert result.error.code == Error.INVALID_REQUEST
    assert len(source.queries) == asked  # refused before asking for a point
    source.code = Error.NOT_FOUND
    assert run_goal(client, "the red cup").error.code == Error.NOT_FOUND


def test_parameters_are_validated():
    values = {
        "planner": "teleport",
        "planner_preset": "default",
    }
    with pytest.raises(ValueError, match="planner"):
        validate_parameters(values)


def test_a_changed_parameter_applies_to_the_next_goal_and_one_read_at_start_is_refused(rig):
    client, source = rig
    pick = source.pick
    source.code, source.point, source.depth_valid = Error.OK, (0.5, 0.0, 0.05), True
    assert pick.set_parameters([Parameter("workspace_max_radius", value=0.4)])[0].successful
    try:
        result = run_goal(client, "the red cup")
        assert result.error.code == Error.UNREACHABLE and "0.400 m" in result.error.message
    finally:
        pick.set_parameters([Parameter("workspace_max_radius", value=0.78)])
    refused = pick.set_parameters([Parameter("depth_topic", value="/other/depth")])[0]
    assert not refused.successful and "depth_topic" in refused.reason


def test_transform_source_tf_without_tf2_is_refused_with_the_reason():
    from molmo_ros.capabilities import has_module
    from molmo_ros.config import config_path, node_parameters

    values = node_parameters(config_path("pick.yaml"), "molmo_pick")
    validate_parameters({**values, "transform_source": "static"})
    with pytest.raises(ValueError, match="transform_source must be one of"):
        validate_parameters({**values, "transform_source": "gps"})
    if not has_module("tf2_ros"):  # here: the wheels have no tf2_ros
        with pytest.raises(ValueError, match="needs tf2_ros"):
            validate_parameters({**values, "transform_source": "tf"})
