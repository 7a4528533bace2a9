"""The synthetic data: deterministic by seed, answers in the Molmo2 format that land on their objects, the
held-out seed split, and the loaders for the real PixMo schemas on a fixture written here."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from PIL import Image

from molmo_ros.pointing import parse_points
from training.data.build import BuildConfig, scene_rows
from training.data.loaders import load_rows
from training.data.scenes import RenderConfig, SceneRenderer, check_seed_range
from training.data.tasks import mixture

RENDER = RenderConfig(width=160, height=120, views_per_scene=2)


@pytest.fixture(scope="module")
def scenes():
    with SceneRenderer(RENDER) as renderer:
        first = list(renderer.scene(5))
        again = list(renderer.scene(5))
    return first, again


def test_same_seed_same_pictures_and_text(scenes) -> None:
    first, again = scenes
    assert len(first) == 2
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.image, b.image) and np.array_equal(a.index_mask, b.index_mask)
        assert scene_rows(a, BuildConfig()) == scene_rows(b, BuildConfig())
    # The second view moves the objects: a different picture of the same objects.
    assert not np.array_equal(first[0].image, first[1].image)
    assert [o.name for o in first[0].objects] == [o.name for o in first[1].objects]


def test_point_answers_land_inside_their_objects(scenes) -> None:
    for scene in scenes[0]:
        visible = {o.label: o for o in scene.visible_objects()}
        assert visible, "the scene should show objects"
        qas = mixture(scene, random.Random(0), 40)
        styles = {q.style for q in qas}
        assert {"point", "absent", "count"} <= styles
        for qa in qas:
            parsed = parse_points(qa.answer, scene.width, scene.height)
            if qa.style == "absent":
                assert parsed.absent and not parsed.points
            if qa.style == "point":
                (point,) = parsed.points
                col, row = point.index(scene.width, scene.height)
                assert scene.mask(visible[point.label])[row, col], qa
            if qa.style == "count":
                assert parsed.count == len(parsed.points) or parsed.absent


def test_seed_ranges_never_overlap() -> None:
    check_seed_range((0, 800), "train")
    check_seed_range((1_000_000, 1_000_100), "eval")
    with pytest.raises(ValueError):
        check_seed_range((999_990, 1_000_010), "eval")
    with pytest.raises(ValueError):
        check_seed_range((999_990, 1_000_010), "train")


def _picture(path, colour) -> None:
    Image.fromarray(np.full((40, 60, 3), colour, dtype=np.uint8)).save(path)


def test_pixmo_cap_schema(tmp_path) -> None:
    import datasets

    _picture(tmp_path / "a.png", (200, 10, 10))
    datasets.Dataset.from_dict({"image_url": ["a.png"], "caption": ["A red picture."]}).to_parquet(
        str(tmp_path / "cap.parquet")
    )
    rows = load_rows(tmp_path / "cap.parquet", "pixmo_cap")
    row = rows[0]
    assert row["answers"] == ["A red picture."] and row["styles"] == ["caption"]
    assert row["image"].size == (60, 40)


def test_pixmo_points_schema(tmp_path) -> None:
    _picture(tmp_path / "b.png", (10, 10, 200))
    lines = [
        {"image_path": "b.png", "label": "boats", "points": [{"x": 10.0, "y": 20.5}, {"x": 50.0, "y": 75.0}]},
        {"image_path": "b.png", "label": "cats", "points": []},
    ]
    (tmp_path / "points.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    rows = load_rows(tmp_path, "pixmo_points")
    assert rows[0]["prompts"][0].startswith("Point to the boats.")
    parsed = parse_points(rows[0]["answers"][0], 60, 40)
    assert parsed.xy() == pytest.approx(np.array([[6.0, 8.2], [30.0, 30.0]]), abs=0.05)
    assert rows[1]["answers"] == ["There are none."] and rows[1]["styles"] == ["absent"]
    with pytest.raises(ValueError, match="unknown data format"):
        load_rows(tmp_path, "coco")


def test_sort_scenes_render_a_large_bowl_and_several_of_one_kind_with_point_all_answers() -> None:
    from dataclasses import replace

    with SceneRenderer(replace(RENDER, layout="sort")) as renderer:
        scene = next(renderer.scene(7))
    kinds = [o.kind for o in scene.objects]
    assert "bowl" in kinds
    assert max(kinds.count(k) for k in set(kinds) - {"bowl"}) >= 2
    qas = mixture(scene, random.Random(0), 40)
    several = [q for q in qas if q.style == "point_all" and len(parse_points(q.answer, 160, 120).points) >= 2]
    assert several, "a sort scene asks for all of a kind it holds several of"


def test_several_sets_hold_out_the_tail_of_each() -> None:
    import datasets

    from training.train_loop import split_rows

    a = datasets.Dataset.from_dict({"n": list(range(100))})
    b = datasets.Dataset.from_dict({"n": list(range(1000, 1050))})
    train, held = split_rows([a, b], 0.1)
    assert held["n"] == [*range(90, 100), *range(1045, 1050)]
    assert train["n"] == [*range(90), *range(1000, 1045)]
    alone_train, alone_held = split_rows([a], 0.1)
    assert alone_held["n"] == list(range(90, 100)) and len(alone_train) == 90
