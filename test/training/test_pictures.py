"""A picture kept by the cache gives the processor's own inputs: the same float pixels (bit for bit), pooling,
grids, token ids and image-token marks as ``processor(images=[image], text=prompt)``, and a batch source with
the cache makes the same batches as one without it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from support.tiny_processor import tiny_processor
from training.batching import BatchSource
from training.pictures import PictureCache, pixels, prompt_inputs


@pytest.fixture(scope="module")
def processor(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures_model")
    return tiny_processor(folder, image_pooling=(1, 1), question_first=True, coordinate_tokens=True)


def _picture(seed: int) -> Image.Image:
    """A 640 x 480 picture of smooth ramps and noise: every byte value and the resize's rounding occur."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, 640)[None, :, None] * np.linspace(0.2, 1.0, 480)[:, None, None]
    noise = rng.integers(0, 256, (480, 640, 3))
    return Image.fromarray(((ramp + noise) % 256).astype(np.uint8))


@pytest.mark.parametrize("seed", [0, 1])
def test_a_cached_picture_gives_the_processors_inputs(processor, seed: int) -> None:
    image = _picture(seed)
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Point to the cup."}]}]
    prompt = processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    expected = processor(images=[image], text=prompt, return_tensors="pt")
    cache = PictureCache(processor.image_processor, 4)
    picture = cache.get(7, lambda: image)
    assert picture.crops.dtype == torch.uint8
    assert torch.equal(pixels(processor.image_processor, picture), expected["pixel_values"])
    assert torch.equal(picture.image_token_pooling, expected["image_token_pooling"])
    assert torch.equal(picture.image_grids, expected["image_grids"])
    ids, mm = prompt_inputs(processor, picture, prompt)
    assert ids == expected["input_ids"][0].tolist()
    assert mm == expected["mm_token_type_ids"][0].tolist()
    assert sum(mm) > 64  # the 8 x 8 grid's tokens are marked, not only the specials


def test_the_cache_keeps_the_most_recent_rows_and_loads_each_once(processor) -> None:
    cache = PictureCache(processor.image_processor, 2)
    loads: list[int] = []

    def loader(i: int):
        return lambda: (loads.append(i), _picture(i))[1]

    for key in (0, 1, 0, 2, 0, 1):
        cache.get(key, loader(key))
    assert loads == [0, 1, 2, 1]  # 1 was the least recently used when 2 came in


def test_a_prompt_without_one_picture_placeholder_is_refused(processor) -> None:
    cache = PictureCache(processor.image_processor, 0)
    picture = cache.get(0, lambda: _picture(0))
    with pytest.raises(ValueError, match="exactly one"):
        prompt_inputs(processor, picture, "no picture here")


PROMPTS = ("Point to the cup.", "Count the cups.", "Point to the ball.")


def _rows(n: int):  # type: ignore[no-untyped-def]
    """``n`` rows of the mixture's form, each with three questions of different styles."""
    from datasets import Dataset, Features, Sequence, Value
    from datasets import Image as ImageFeature

    return Dataset.from_dict(
        {
            "image": [_picture(i) for i in range(n)],
            "prompts": [list(PROMPTS)] * n,
            "answers": [
                ['<points alt="cup" coords="1 1 250 500">cup</points>', "There are none.", "There are none."]
            ]
            * n,
            "styles": [["point", "count", "absent"]] * n,
        },
        features=Features(
            {
                "image": ImageFeature(),
                "prompts": Sequence(Value("string")),
                "answers": Sequence(Value("string")),
                "styles": Sequence(Value("string")),
            }
        ),
    )


def test_batches_are_the_same_with_and_without_the_cache(processor) -> None:
    rows = _rows(3)
    plain = BatchSource(rows, processor, 2, 2, 512, seed=3)
    cached = BatchSource(rows, processor, 2, 2, 512, seed=3, picture_cache_rows=10)
    for step in range(4):  # past one epoch: the second visit comes from the cache
        a, b = plain[step], cached[step]
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key
    assert len(cached.pictures._pictures) == 3


def _first_questions(batch: dict[str, torch.Tensor], processor) -> list[str]:  # type: ignore[no-untyped-def]
    texts = processor.tokenizer.batch_decode(batch["input_ids"], skip_special_tokens=True)
    return [next(q for q in PROMPTS if q in t) for t in texts]


def test_questions_per_picture_puts_each_picture_twice_in_a_row_with_two_questions(processor) -> None:
    from molmo_ros.models.shared_crops import repeated_crops

    rows = _rows(4)
    one = BatchSource(rows, processor, 4, 1, 512, seed=3, picture_cache_rows=10)
    two = BatchSource(rows, processor, 4, 1, 512, seed=3, picture_cache_rows=10, questions_per_picture=2)
    for step in range(3):
        a, b = one[step], two[step]
        assert a["input_ids"].shape[0] == b["input_ids"].shape[0] == 4
        crops_per_example = b["pixel_values"].shape[0] // 4
        distinct_a = int((~repeated_crops(a["pixel_values"])).sum())
        distinct_b = int((~repeated_crops(b["pixel_values"])).sum())
        # The vision tower computes half as many crops: examples 0-1 and 2-3 are one picture each.
        assert distinct_b * 2 == distinct_a
        pairs = b["pixel_values"].reshape(2, 2, crops_per_example, *b["pixel_values"].shape[1:])
        assert torch.equal(pairs[:, 0], pairs[:, 1])
        assert not torch.equal(pairs[0, 0], pairs[1, 0])
        questions = _first_questions(b, processor)
        assert questions[0] != questions[1] and questions[2] != questions[3]
    # Over two steps (one epoch of rows) every picture is drawn once.
    seen = {two[s]["pixel_values"][0].sum().item() for s in range(2)} | {
        two[s]["pixel_values"][2 * crops_per_example].sum().item() for s in range(2)
    }
    assert len(seen) == 4


def test_questions_per_picture_must_divide_the_batch(processor) -> None:
    for bad in (0, 3):
        with pytest.raises(ValueError, match="divide batch_size"):
            BatchSource(_rows(1), processor, 4, 1, 512, seed=0, questions_per_picture=bad)
