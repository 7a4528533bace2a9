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


def test_batches_are_the_same_with_and_without_the_cache(processor) -> None:
    from datasets import Dataset, Features, Sequence, Value
    from datasets import Image as ImageFeature

    rows = Dataset.from_dict(
        {
            "image": [_picture(i) for i in range(3)],
            "prompts": [["Point to the cup.", "Count the cups."]] * 3,
            "answers": [['<points alt="cup" coords="1 1 250 500">cup</points>', "There are none."]] * 3,
            "styles": [["point", "count"]] * 3,
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
    plain = BatchSource(rows, processor, 2, 2, 512, seed=3)
    cached = BatchSource(rows, processor, 2, 2, 512, seed=3, picture_cache_rows=10)
    for step in range(4):  # past one epoch: the second visit comes from the cache
        a, b = plain[step], cached[step]
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key
    assert len(cached.pictures._pictures) == 3
