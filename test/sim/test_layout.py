"""Seeded layouts: reproducible, varied, non-overlapping, reachable and graspable."""

from __future__ import annotations

import math
from itertools import combinations

import pytest

from molmo_ros.sim.catalogue import COLOURS, KINDS, MAX_GRASP_WIDTH
from molmo_ros.sim.errors import SceneError
from molmo_ros.sim.layout import MAX_BASE_DISTANCE, MIN_BASE_DISTANCE, place_object, sample_layout


def test_same_seed_gives_identical_layout(sim_config):
    assert sample_layout(11, sim_config) == sample_layout(11, sim_config)


def test_different_seeds_give_different_layouts(sim_config):
    layouts = [sample_layout(seed, sim_config) for seed in range(20)]
    signatures = {
        tuple((o.name, round(o.position[0], 4), round(o.position[1], 4)) for o in lay.objects)
        for lay in layouts
    }
    assert len(signatures) == len(layouts)
    # The seed also varies how many objects there are and which.
    assert len({len(lay.objects) for lay in layouts}) > 1
    assert len({o.kind for lay in layouts for o in lay.objects}) == len(KINDS)


@pytest.mark.parametrize("count", [None, 6])
def test_objects_never_overlap_and_stay_reachable(sim_config, count):
    for seed in range(100):
        layout = sample_layout(seed, sim_config, count)
        n = len(layout.objects)
        assert sim_config.min_objects <= n <= sim_config.max_objects
        assert len(set(layout.names())) == n
        for a, b in combinations(layout.objects, 2):
            gap = (
                math.dist(a.position[:2], b.position[:2])
                - a.shape.footprint_radius
                - b.shape.footprint_radius
            )
            assert gap >= sim_config.object_clearance - 1e-9, (seed, a.name, b.name)
        for obj in layout.objects:
            assert MIN_BASE_DISTANCE <= math.hypot(*obj.position[:2]) <= MAX_BASE_DISTANCE
            assert sim_config.workspace_x[0] <= obj.position[0] <= sim_config.workspace_x[1]
            assert obj.colour in COLOURS and obj.kind in KINDS


def test_every_kind_fits_the_gripper():
    import numpy as np

    for kind, build in KINDS.items():
        for seed in range(20):
            shape = build(np.random.default_rng(seed))
            assert shape.grasp_width <= MAX_GRASP_WIDTH, kind
            assert shape.height > 0.02 and shape.footprint_radius >= 0.5 * shape.grasp_width


def test_too_many_objects_for_the_workspace_is_an_error(sim_config):
    cramped = sim_config.replace(workspace_x=(0.4, 0.45), workspace_y=(-0.02, 0.02))
    with pytest.raises(SceneError, match="do not fit"):
        sample_layout(0, cramped, 6)


def test_unknown_kind_or_colour_is_rejected():
    with pytest.raises(SceneError, match="unknown object kind"):
        place_object("teapot", "red", (0.5, 0.0), 0.0)
    with pytest.raises(SceneError, match="unknown colour"):
        place_object("cup", "mauve", (0.5, 0.0), 0.0)


@pytest.mark.parametrize("layout", ["place", "sort"])
def test_place_and_sort_scenes_hold_one_large_bowl_and_small_objects_apart(sim_config, layout):
    from molmo_ros.sim.catalogue import KINDS

    for seed in range(60):
        objects = sample_layout(seed, sim_config, layout=layout).objects
        bowls = [o for o in objects if o.kind == "bowl"]
        assert len(bowls) == 1 and bowls[0] is objects[0], (seed, [o.name for o in objects])
        # Room for a small object between the open fingers inside it; too wide to be picked itself.
        assert bowls[0].shape.footprint_radius > 0.08 > MAX_GRASP_WIDTH
        small = objects[1:]
        assert small and all(o.kind in KINDS and o.shape.grasp_width <= MAX_GRASP_WIDTH for o in small)
        assert len({o.name for o in objects}) == len(objects)
        for a, b in combinations(objects, 2):
            gap = (
                math.dist(a.position[:2], b.position[:2])
                - a.shape.footprint_radius
                - b.shape.footprint_radius
            )
            assert gap >= sim_config.object_clearance - 1e-9, (seed, a.name, b.name)
        if layout == "sort":
            kinds = [o.kind for o in small]
            assert 2 <= max(kinds.count(k) for k in kinds) <= 3, (seed, kinds)
    # Seeded: the same seed, the same scene; the layout changes the scene.
    assert sample_layout(5, sim_config, layout=layout) == sample_layout(5, sim_config, layout=layout)
    assert sample_layout(5, sim_config, layout=layout) != sample_layout(5, sim_config)


def test_an_unknown_layout_is_refused(sim_config):
    with pytest.raises(SceneError, match="unknown layout"):
        sample_layout(0, sim_config, layout="stack")
