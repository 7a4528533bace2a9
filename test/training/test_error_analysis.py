"""The error breakdown of held-out answers: what each wrong point hit, the counting table, mug handles, on a
rendered held-out scene with answers written here."""

from __future__ import annotations

import json

import pytest

from training.error_analysis import analyse, asked_label, hit_object, main, render_scenes
from training.evaluate import eval_render_config

SEED = 1000001  # white cup, black cup, yellow ball and a pink mug whose handle faces the camera


@pytest.fixture(scope="module")
def rendered():
    scenes, handles = render_scenes([SEED], eval_render_config())
    return scenes[SEED], handles[SEED]


def _point(scene, name: str) -> list[float]:
    obj = next(o for o in scene.objects if o.name == name)
    return list(obj.point)


def test_asked_label_for_each_question_kind() -> None:
    assert asked_label({"kind": "point", "query": "red cup"}) == ("red", "cup")
    assert asked_label({"kind": "absent", "query": "blue mug"}) == ("blue", "mug")
    assert asked_label({"kind": "point_all", "query": "all the bowls"}) == (None, "bowl")
    assert asked_label({"kind": "count", "query": "cans"}) == (None, "can")


def test_points_are_attributed_to_the_object_under_them(rendered) -> None:
    scene, _ = rendered
    hit = hit_object(scene, *_point(scene, "pink_mug"))
    assert hit is not None and hit.name == "pink_mug"
    assert hit_object(scene, 5.0, 470.0) is None  # the table's near corner
    assert hit_object(scene, -40.0, 1e4) is None  # clipped into the image, not an index error


def test_the_mug_handle_is_counted_and_lies_inside_the_mug(rendered) -> None:
    scene, handles = rendered
    mug = next(o for o in scene.objects if o.name == "pink_mug")
    assert set(handles) == {"pink_mug"}
    # Seen in the picture: the handle stands out on the right; it is part of the mug, and far from all of it.
    assert 20 <= handles["pink_mug"] < 0.5 * mug.pixels


def test_breakdown_of_wrong_answers(rendered) -> None:
    scene, handles = rendered
    cups = ["white_cup", "black_cup"]
    questions = [
        # Two cups counted as the white cup and the pink mug: one kind confusion (cup -> mug), count (2, 2).
        {
            "seed": SEED,
            "kind": "count",
            "query": "cups",
            "object_names": cups,
            "points": [_point(scene, "white_cup"), _point(scene, "pink_mug")],
            "correct": True,
            "score": {},
        },
        # "There are none." for a ball that is there.
        {
            "seed": SEED,
            "kind": "point",
            "query": "yellow ball",
            "object_names": ["yellow_ball"],
            "points": [],
            "correct": None,
            "score": {"f1": 0.0},
        },
        # An absent object pointed at on the table.
        {
            "seed": SEED,
            "kind": "absent",
            "query": "red block",
            "object_names": [],
            "points": [[5.0, 470.0]],
            "correct": None,
            "score": {"f1": 0.0},
        },
        # Right: the black cup.
        {
            "seed": SEED,
            "kind": "point",
            "query": "black cup",
            "object_names": ["black_cup"],
            "points": [_point(scene, "black_cup")],
            "correct": None,
            "score": {"f1": 1.0},
        },
    ]
    report = analyse(questions, {SEED: scene}, {SEED: handles})
    assert report["right"] == {"absent": "0/1", "count": "1/1", "point": "1/2"}
    assert report["point_none_for_present"] == 1
    assert report["count_by_objects"] == {2: {2: 1}}
    assert report["wrong_points"] == {"other kind and colour": 1, "table": 1}
    assert report["kind_confusions"] == [["cup", "mug", 1]]
    assert report["mug_handles"]["cup_questions_pointing_at_a_mug"] == {"handle shown": 1}
    assert report["mug_handles"]["mugs"] == 1
    # With a threshold above this handle's pixels the same point counts as a hidden handle.
    hidden = analyse(questions, {SEED: scene}, {SEED: handles}, handle_px=handles["pink_mug"] + 1)
    assert hidden["mug_handles"]["cup_questions_pointing_at_a_mug"] == {"handle not shown": 1}
    json.dumps(report)  # the CLI prints it


def test_cli_refuses_a_missing_file(tmp_path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--questions", str(tmp_path / "nope.jsonl")])
    assert exc.value.code == 2
