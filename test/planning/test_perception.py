"""Perception on depth pictures whose answer is known: boxes ray-cast onto a table (no simulator)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from molmo_ros.errors import DepthError
from molmo_ros.planning.perception import (
    Capsule,
    PerceptionSettings,
    depth_to_cloud,
    observe_scene,
    remove_robot,
)
from support.depth_scene import INTRINSICS, overhead_camera, render_depth

CAMERA = overhead_camera()
TALL = ((0.5, 0.05, 0.03), (0.02, 0.04, 0.03))  # 4 x 8 x 6 cm, long side along y
CUBE = ((0.42, -0.12, 0.025), (0.025, 0.025, 0.025))


def _observe(boxes, target, **settings):
    depth = render_depth(boxes, CAMERA)
    cloud = depth_to_cloud(depth, INTRINSICS, CAMERA, stride=2)
    return observe_scene(cloud, np.asarray(target, float), PerceptionSettings(**settings))


def test_the_cloud_lies_on_the_table_and_the_boxes():
    depth = render_depth([TALL], CAMERA)
    cloud = depth_to_cloud(depth, INTRINSICS, CAMERA)
    assert cloud.shape[1] == 3
    on_table = np.abs(cloud[:, 2]) < 1e-6
    on_top = np.abs(cloud[:, 2] - 0.06) < 1e-6
    assert on_table.sum() + on_top.sum() == len(cloud)  # an overhead camera sees no sides
    top = cloud[on_top]
    np.testing.assert_allclose(top[:, :2].min(0), [0.48, 0.01], atol=4e-3)
    np.testing.assert_allclose(top[:, :2].max(0), [0.52, 0.09], atol=4e-3)


def test_the_target_object_is_segmented_with_its_top_centre_and_orientation():
    obs = _observe([TALL, CUBE], [0.5, 0.05, 0.06])
    assert obs.table_z == pytest.approx(0.0, abs=2e-3)
    assert len(obs.objects) == 2
    target = obs.target
    assert target is not None
    assert target.top_z == pytest.approx(0.06, abs=3e-3)
    np.testing.assert_allclose(target.centre_xy, [0.5, 0.05], atol=3e-3)
    # The footprint's long side runs along y: the major axis is at +-90 degrees, elongation 2, width 4 cm.
    assert abs(np.cos(target.principal_yaw)) < 0.05
    assert target.elongation == pytest.approx(2.0, rel=0.1)
    assert target.width == pytest.approx(0.04, abs=5e-3)
    # The other box is an obstacle; with include_target the target's own box is one too.
    names = {b.name for b in obs.obstacles(include_target=False)}
    assert target.box.name not in names and len(names) == 1
    assert len(obs.obstacles(include_target=True)) == 2


def test_a_point_on_the_bare_table_has_no_target():
    obs = _observe([TALL, CUBE], [0.65, 0.2, 0.0])
    assert obs.target is None and len(obs.objects) == 2


def test_the_table_is_found_at_its_height():
    cube = ((0.42, -0.12, 0.125), (0.025, 0.025, 0.025))
    depth = render_depth([cube], CAMERA, table_z=0.1)
    cloud = depth_to_cloud(depth, INTRINSICS, CAMERA, stride=2)
    obs = observe_scene(cloud, np.array([0.42, -0.12, 0.15]), PerceptionSettings(table_z=0.1))
    assert obs.table_z == pytest.approx(0.1, abs=2e-3)
    assert obs.target.top_z == pytest.approx(0.15, abs=3e-3)


def test_points_inside_the_robot_capsules_are_removed():
    cloud = depth_to_cloud(render_depth([TALL], CAMERA), INTRINSICS, CAMERA)
    arm = Capsule(np.array([0.5, 0.05, 0.0]), np.array([0.5, 0.05, 0.2]), 0.06)
    kept = remove_robot(cloud, [arm])
    assert len(kept) < len(cloud)
    assert np.all(np.linalg.norm(kept[:, :2] - [0.5, 0.05], axis=1) > 0.06 - 1e-9)


def test_a_depth_picture_without_valid_pixels_is_a_depth_error():
    depth = np.full((INTRINSICS.height, INTRINSICS.width), np.nan)
    with pytest.raises(DepthError):
        cloud = depth_to_cloud(depth, INTRINSICS, CAMERA)
        observe_scene(cloud, np.array([0.5, 0.0, 0.0]), PerceptionSettings())


def test_a_box_holds_a_point_in_its_rotated_extent_or_footprint() -> None:
    from molmo_ros.planning.perception import Box

    box = Box("b", np.array([0.5, 0.0, 0.05]), np.array([0.10, 0.02, 0.05]), yaw=math.pi / 2)
    assert box.holds(np.array([0.5, 0.09, 0.05]))  # along the long axis, turned onto y
    assert not box.holds(np.array([0.59, 0.0, 0.05]))  # across the short one
    assert not box.holds(np.array([0.5, 0.09, 0.20]))  # above it
    assert box.holds(np.array([0.5, 0.09, 0.20]), footprint=True)
    assert not box.holds(np.array([0.525, 0.0, 0.05]))
    assert box.holds(np.array([0.525, 0.0, 0.05]), margin=0.01)
