"""molmo_ros.models.single_resize: a picture resized once before a single-crop Molmo2 processor gives the
processor's own inputs bit for bit; any other processor gets the picture untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from molmo_ros.models.single_resize import resize_once, single_crop_size
from molmo_ros.models.transformers_backend import bundled_model_dir, molmo2_inputs


@pytest.fixture(scope="module")
def processor():  # type: ignore[no-untyped-def]
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(bundled_model_dir())


@pytest.mark.parametrize("height,width", [(480, 640), (517, 333), (80, 100), (1080, 1920)])
def test_the_processor_inputs_are_the_same_bits(processor, height: int, width: int) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(height)
    picture = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    picture[: height // 3] = 255  # flat and saturated areas too, where rounding to a byte could slip
    once = resize_once(processor.image_processor, picture)
    side = single_crop_size(processor.image_processor)
    assert side is not None and once.shape == (side, side, 3) and once.dtype == np.uint8
    plain = molmo2_inputs(processor, Image.fromarray(picture), "Point to the red cup.")
    resized = molmo2_inputs(processor, Image.fromarray(once), "Point to the red cup.")
    assert plain.keys() == resized.keys()
    for key in plain:
        assert torch.equal(plain[key], resized[key]), key


def test_a_picture_already_square_and_other_processors_pass_through(processor, tiny_ckpt: Path) -> None:  # type: ignore[no-untyped-def]
    import copy

    side = single_crop_size(processor.image_processor)
    square = np.zeros((side, side, 3), dtype=np.uint8)
    assert resize_once(processor.image_processor, square) is square
    picture = np.zeros((48, 64, 3), dtype=np.uint8)
    several = copy.deepcopy(processor.image_processor)
    several.max_crops = 4  # tiles see the canvas at another size than the global view: no shared resize
    assert single_crop_size(several) is None
    assert resize_once(several, picture) is picture
    assert resize_once(object(), picture) is picture
    grey = np.zeros((48, 64), dtype=np.uint8)
    assert resize_once(processor.image_processor, grey) is grey
