"""molmo_ros.models.lookup_decoding: guessed tokens checked a pass at a time give the tokens of plain greedy
``generate``, in fewer forward passes; a checkpoint whose generation settings change the scores keeps
``generate``."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from transformers import StoppingCriteriaList

from molmo_ros.models import lookup_decoding
from molmo_ros.models.lookup_decoding import (
    after_numbers,
    draft,
    eos_ids,
    greedy_answer,
    lookup_greedy,
    plain_greedy,
    word_keys,
)
from molmo_ros.models.stopping import PointsEndCriterion, tag_end_token_ids
from molmo_ros.models.transformers_backend import TransformersPointModel, bundled_model_dir, molmo2_inputs
from molmo_ros.pointing import count_prompt, point_prompt

# Questions about held-out scene 1000000 (yellow mug, purple can, cyan block, blue block, green mug), so the
# shipped model answers in the point format it was trained on.
PROMPTS = [
    point_prompt("yellow mug"),
    point_prompt("cyan block"),
    point_prompt("green mug"),
    point_prompt("all the blocks"),
    count_prompt("blocks"),
    count_prompt("mugs"),
]


def test_a_guess_is_what_followed_the_last_tokens_in_the_first_reference_holding_them() -> None:
    refs = [[1, 2, 3, 4, 5], [7, 3, 9, 9], [3, 8]]
    assert draft([0, 2, 3], refs, 8) == [4, 5]  # the last two, (2, 3), in the first reference
    assert draft([0, 7, 3], refs, 1) == [9]  # (7, 3) in the second; at most max_tokens
    assert draft([6, 8], refs, 8) == []  # 8 ends its reference: nothing follows it
    assert draft([5, 3], refs, 8) == [4, 5]  # (5, 3) nowhere: the last one, 3, first in the first reference
    assert draft([], refs, 8) == [] and draft([42], refs, 8) == []
    assert draft([42], refs, 8, {42: [0, 1]}) == [0, 1] and draft([3], refs, 8, {3: [0]}) == [
        4,
        5,
    ]  # refs first
    # 42 is nowhere, but the same word as 7 (" mug" and "mug"): what followed 7; exact tokens come first
    words = {42: "mug", 7: "mug", 3: "cup"}
    assert draft([42], refs, 8, {42: [0]}, words) == [3, 9, 9]
    assert draft([0, 3], refs, 2, None, words) == [4, 5] and draft([41], refs, 8, None, words) == []


def test_a_word_key_is_the_word_without_its_space(shipped) -> None:
    tokenizer = shipped._processor.tokenizer
    keys = word_keys(tokenizer)
    spaced = tokenizer(" yellow", add_special_tokens=False)["input_ids"]
    bare = tokenizer('alt="yellow', add_special_tokens=False)["input_ids"][-1]
    assert len(spaced) == 1 and spaced[0] != bare and keys[spaced[0]] == keys[bare] == "yellow"
    assert all(text.isalpha() for text in keys.values())


def test_after_a_coordinate_the_guess_is_a_space(shipped) -> None:
    tokenizer = shipped._processor.tokenizer
    follow = after_numbers(tokenizer)
    space = tokenizer(" ", add_special_tokens=False)["input_ids"]
    for value in ("0", "396", "1000"):
        (token,) = tokenizer(value, add_special_tokens=False)["input_ids"]
        assert follow[token] == space
    (word,) = tokenizer("mug", add_special_tokens=False)["input_ids"][-1:]
    assert word not in follow


def test_only_plain_argmax_settings_take_the_lookup_path() -> None:
    from transformers import GenerationConfig

    assert plain_greedy(GenerationConfig(eos_token_id=[2, 0]))
    assert not plain_greedy(GenerationConfig(repetition_penalty=1.2))
    assert not plain_greedy(GenerationConfig(suppress_tokens=[5]))
    assert eos_ids(GenerationConfig(eos_token_id=[2, 0])) == {0, 2} and eos_ids(GenerationConfig()) == set()


@pytest.fixture(scope="module")
def shipped() -> TransformersPointModel:
    backend = TransformersPointModel(bundled_model_dir(), device="cpu", max_new_tokens=64)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def held_out_scene() -> np.ndarray:
    """The evaluation's 640x480 RGB view of held-out seed 1000000."""
    from training.data.scenes import SceneRenderer
    from training.evaluate import eval_render_config

    with SceneRenderer(eval_render_config(640, 480)) as renderer:
        return next(renderer.scene(1_000_000, views=1)).image


def test_the_answers_are_the_tokens_generate_writes_in_fewer_passes(shipped, held_out_scene) -> None:
    model, processor = shipped._model, shipped._processor
    tag_end = set(tag_end_token_ids(processor.tokenizer))
    tokens = passes = pointed = 0
    for prompt in PROMPTS:
        inputs = molmo2_inputs(processor, Image.fromarray(held_out_scene), prompt)
        start = inputs["input_ids"].shape[1]
        for stops in (eos_ids(model.generation_config), eos_ids(model.generation_config) | tag_end):
            criteria = StoppingCriteriaList([PointsEndCriterion(sorted(stops))])
            expected = model.generate(
                **inputs, max_new_tokens=64, do_sample=False, num_beams=1, stopping_criteria=criteria
            )[0, start:].tolist()
            got, n = greedy_answer(model, dict(inputs), processor.tokenizer, prompt, 64, stops)
            assert got == expected, (prompt, processor.decode(got), processor.decode(expected))
            if 'coords="' in processor.decode(got):  # an answer in the point format
                tokens, passes, pointed = tokens + len(got), passes + n, pointed + 1
    assert pointed == 2 * len(PROMPTS), pointed  # every answer, both ways of stopping, is in the point format
    assert passes < 0.7 * tokens, (passes, tokens)


def test_an_opening_guess_is_checked_in_the_prompts_own_pass(shipped, held_out_scene) -> None:
    model, processor = shipped._model, shipped._processor
    inputs = molmo2_inputs(processor, Image.fromarray(held_out_scene), PROMPTS[0])
    stops = eos_ids(model.generation_config)
    criteria = StoppingCriteriaList([PointsEndCriterion(sorted(stops))])
    start = inputs["input_ids"].shape[1]
    expected = model.generate(
        **inputs, max_new_tokens=64, do_sample=False, num_beams=1, stopping_criteria=criteria
    )[0, start:].tolist()
    assert len(expected) > 4
    # No references: one pass a token; the first three tokens guessed right: three passes fewer.
    assert lookup_greedy(model, dict(inputs), [], 64, stops) == (expected, len(expected))
    right = lookup_greedy(model, dict(inputs), [], 64, stops, opening=expected[:3])
    assert right == (expected, len(expected) - 3)
    wrong = [t for t in range(10) if t != expected[0]][:2]  # a wrong first guess costs no pass
    assert lookup_greedy(model, dict(inputs), [], 64, stops, opening=wrong) == (expected, len(expected))


def test_the_backend_answers_through_generate_when_the_settings_change_the_scores(
    shipped, held_out_scene, monkeypatch
) -> None:
    plain = shipped.generate(held_out_scene, PROMPTS[3]).text
    config = shipped._model.generation_config
    # 3.0 changes every answer of the shipped model (each repeats "1", and the alt repeats the question's words);
    # 1.5 changed only a second point, which a model that points once leaves alone
    monkeypatch.setattr(config, "repetition_penalty", 3.0)

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the lookup path ran with a repetition penalty set")

    monkeypatch.setattr(lookup_decoding, "lookup_greedy", refuse)
    penalised = shipped.generate(held_out_scene, PROMPTS[3]).text
    assert penalised != plain  # the penalty was applied, by generate
