"""Top-down grasp layout and the workspace check (plain Python, milliseconds)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from molmo_ros.errors import ErrorCode
from molmo_ros.planning.grasp import (
    GraspSettings,
    UnreachableError,
    Workspace,
    grasp_height,
    plan_grasp,
    top_down_rotation,
)

WORKSPACE = Workspace(0.25, 0.78, -0.05, 0.4)


def test_top_down_rotation_points_the_fingers_down_and_turns_the_wrist_least():
    rotation = top_down_rotation(math.radians(100))
    assert np.allclose(rotation.apply([0, 0, 1]), [0, 0, -1], atol=1e-9)
    # 100 deg with 90-degree symmetry: 10 deg is the nearest to the ready pose's yaw 0.
    assert math.degrees(rotation.as_euler("ZYX")[0]) == pytest.approx(10.0)


def test_grasp_height_is_below_the_top_and_never_above_the_middle():
    assert grasp_height(0.05, 0.10) == pytest.approx(0.05)
    assert grasp_height(0.02, 0.04) == pytest.approx(0.01)
    assert grasp_height(0.02, 0.04, depth=0.01) == pytest.approx(0.02)


def test_elongated_objects_are_taken_across_their_narrow_side_only():
    candidates = plan_grasp(np.array([0.5, 0.0]), 0.06, 0.0, 0.3, 2.5, 0.04, GraspSettings())
    assert len(candidates) == 2
    for c in candidates:
        closing = c.rotation.apply([0, 1, 0])  # the fingers close along the tool's y axis
        major = np.array([math.cos(0.3), math.sin(0.3), 0.0])
        assert abs(closing @ major) < 1e-6


def test_round_objects_get_four_candidates_across_the_minor_axis_first():
    candidates = plan_grasp(np.array([0.5, 0.1]), 0.09, 0.0, 0.0, 1.1, 0.06, GraspSettings())
    assert len(candidates) == 4
    first = candidates[0]
    assert np.allclose(first.grasp, [0.5, 0.1, 0.045])
    assert np.allclose(first.pregrasp - first.grasp, [0, 0, 0.12])
    assert np.allclose(first.lift - first.grasp, [0, 0, 0.15])
    assert abs(first.rotation.apply([0, 1, 0])[0]) < 1e-6  # closing across x (the minor axis)


def test_low_objects_are_grasped_above_the_table():
    candidates = plan_grasp(np.array([0.5, 0.0]), 0.012, 0.0, None, 1.0, 0.0, GraspSettings())
    assert candidates[0].grasp[2] == pytest.approx(0.015)


def test_the_reference_orientation_orders_the_candidates():
    reference = Rotation.from_euler("z", 3.0) * Rotation.from_euler("x", math.pi)
    candidates = plan_grasp(np.array([0.5, 0.0]), 0.06, 0.0, 0.0, 1.0, 0.05, GraspSettings(), reference)
    assert abs(math.remainder(candidates[0].yaw - math.pi, 2 * math.pi)) < 1e-6


@pytest.mark.parametrize(
    ("point", "words"),
    [((1.2, 0.0, 0.05), "beyond"), ((0.05, 0.05, 0.05), "closer"), ((0.5, 0.0, 0.9), "height")],
)
def test_targets_outside_the_workspace_are_unreachable_with_a_reason(point, words):
    with pytest.raises(UnreachableError, match=words) as info:
        WORKSPACE.check(np.array(point))
    assert info.value.code == ErrorCode.UNREACHABLE


def test_targets_inside_the_workspace_pass():
    WORKSPACE.check(np.array([0.5, -0.2, 0.05]))
