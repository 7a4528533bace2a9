"""training.draw_weights through BatchSource: the style, several-points and look-alike weights shift which
question an example takes."""

from __future__ import annotations

import json

from support.two_objects import two_object_answer, two_object_scene


def test_style_weights_shift_which_question_an_example_takes(coord_processor) -> None:
    from training.batching import BatchSource

    image, _, _ = two_object_scene()
    row = {
        "image": image,
        "prompts": ["Point to the red mug.", "What colour is the cup?", "Count the mugs."],
        "answers": ["There are none.", "The cup is red.", "There are none."],
        "styles": ["absent", "qa_colour", "count"],
    }

    def shares(weights: dict[str, float]) -> dict[str, float]:
        source = BatchSource([row], coord_processor, 1, 1, 512, seed=0, style_weights=weights)
        counts: dict[str, int] = {}
        for sample in range(300):
            enc = source.example(0, sample)
            question = coord_processor.tokenizer.decode(
                enc.input_ids[: enc.mm_token_type_ids.tolist().index(1)]
            )
            style = next(s for p, s in zip(row["prompts"], row["styles"], strict=True) if p in question)
            counts[style] = counts.get(style, 0) + 1
        return {k: v / 300 for k, v in counts.items()}

    even = shares({})
    assert all(0.25 < even[s] < 0.42 for s in row["styles"]), even
    # "qa" stands for every qa_* style; "count:none" for counting questions answered "There are none.".
    tilted = shares({"qa": 0.1, "count:none": 4.0})
    assert tilted.get("qa_colour", 0.0) < 0.1 and tilted["count"] > 0.6, tilted


def test_several_weight_favours_answers_with_two_or_more_points(coord_processor) -> None:
    from training.batching import BatchSource

    image, _, _ = two_object_scene()
    answer, _ = two_object_answer()
    one = '<points alt="cups" coords="1 1 188 208">cups</points>'
    row = {
        "image": image,
        "prompts": ["Point to all the cups.", "Point to all the objects."],
        "answers": [one, answer],
        "styles": ["point_all", "point_all"],
    }

    def share_of_several(weights: dict[str, float]) -> float:
        source = BatchSource([row], coord_processor, 1, 1, 512, seed=0, style_weights=weights)
        tok = coord_processor.tokenizer
        picked = [tok.decode(source.example(0, k).input_ids) for k in range(200)]
        return sum("all the objects" in text for text in picked) / 200

    assert 0.35 < share_of_several({"point_all": 2.0}) < 0.65
    assert share_of_several({"point_all": 2.0, "point_all:several": 8.0}) > 0.7


def test_lookalike_weight_favours_questions_whose_kind_has_its_lookalike_in_the_picture(
    coord_processor,
) -> None:
    from training.batching import BatchSource
    from training.draw_weights import asked_kind

    assert asked_kind("Count the mugs.") == "mug"
    assert (
        asked_kind("Point to the red cup.\nPlease say 'There are none.' if it is not in the image.") == "cup"
    )
    assert asked_kind("Point to all the blue objects.") is None
    image, _, _ = two_object_scene()

    def share_of_cup(objects: list[dict]) -> float:
        row = {
            "image": image,
            "prompts": ["Count the cups.", "Point to the red ball."],
            "answers": ["There are none.", "There are none."],
            "styles": ["count", "absent"],
            "objects": json.dumps(objects),
        }
        source = BatchSource([row], coord_processor, 1, 1, 512, seed=0, style_weights={"lookalike": 6.0})
        tok = coord_processor.tokenizer
        return sum("cups" in tok.decode(source.example(0, k).input_ids) for k in range(200)) / 200

    mug = {"name": "red_mug", "kind": "mug", "colour": "red", "index": 1, "pixels": 500, "visible": True}
    can = dict(mug, name="red_can", kind="can")
    hidden_mug = dict(mug, visible=False, pixels=0)
    assert share_of_cup([mug]) > 0.75
    assert 0.35 < share_of_cup([can]) < 0.65
    assert 0.35 < share_of_cup([hidden_mug]) < 0.65
