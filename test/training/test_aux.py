"""The auxiliary vision targets line up with the processor's patches and image tokens, and the pointer /
attention targets sit on the coordinate digits of single-object point answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from training.batching import (
    aux_class_counts,
    collate,
    digit_token_ids,
    encode_example,
    object_patch_fractions,
    patch_positions,
    patch_targets,
    pointer_targets,
)


@pytest.fixture(scope="module")
def processor(tmp_path_factory):
    from dataclasses import replace

    from transformers import AutoProcessor

    from molmo_ros.models.tiny import Molmo2Sizes, build_molmo2_checkpoint

    out = tmp_path_factory.mktemp("aux_model")
    sizes = replace(Molmo2Sizes.tiny(), max_crops=1, image_pooling=(2, 2), tokenizer_vocab_size=400)
    build_molmo2_checkpoint(out, sizes=sizes, corpus=['<points alt="red cup" coords="1 1 250 500">'], seed=0)
    return AutoProcessor.from_pretrained(out)


def _scene() -> tuple[Image.Image, np.ndarray, list[dict]]:
    """A 160 x 120 picture: a red cup in the top-left quarter, a blue ball in the bottom-right one."""
    mask = np.zeros((120, 160), dtype=np.uint8)
    mask[10:40, 10:50] = 1
    mask[80:110, 110:150] = 2
    objects = [
        {"index": 1, "colour": "red", "kind": "cup", "pixels": int((mask == 1).sum())},
        {"index": 2, "colour": "blue", "kind": "ball", "pixels": int((mask == 2).sum())},
    ]
    image = np.zeros((120, 160, 3), dtype=np.uint8)
    image[mask == 1] = (255, 0, 0)
    image[mask == 2] = (0, 0, 255)
    return Image.fromarray(image), mask, objects


def test_patch_targets_follow_the_masks(processor) -> None:
    _, mask, objects = _scene()
    fractions = object_patch_fractions(processor.image_processor, Image.fromarray(mask), objects)
    assert set(fractions) == {1, 2}
    n = fractions[1].shape[0]
    colour, kind = patch_targets(n, fractions, objects)
    n_colour, n_kind = aux_class_counts()
    assert colour.shape == (n, n_colour) and kind.shape == (n, n_kind)
    assert torch.allclose(colour.sum(1), torch.ones(n)) and torch.allclose(kind.sum(1), torch.ones(n))
    # Background dominates; the red cup's patches come first in raster order, the blue ball's last.
    covered = (1 - colour[:, 0]).nonzero().flatten()
    assert 0 < len(covered) < n
    from molmo_ros.sim.catalogue import COLOURS

    red, blue = 1 + list(COLOURS).index("red"), 1 + list(COLOURS).index("blue")
    crop = fractions[1].shape[0] // 2  # the first crop is the whole picture
    assert colour[:crop, red].argmax() < colour[:crop, blue].argmax()


def test_patch_positions_follow_the_picture(processor) -> None:
    _, mask, objects = _scene()
    xy = patch_positions(processor.image_processor, (160, 120))
    fractions = object_patch_fractions(processor.image_processor, Image.fromarray(mask), objects)
    assert xy.shape == (fractions[1].shape[0], 2)
    assert bool(((xy >= 0) & (xy <= 1)).all())
    # The red cup (top left, centre (30, 25) px) and the blue ball (bottom right, (130, 95) px): the patches
    # each covers most lie where the object is.
    for index, centre in ((1, (30 / 160, 25 / 120)), (2, (130 / 160, 95 / 120))):
        where = xy[fractions[index].argmax()]
        assert abs(float(where[0]) - centre[0]) < 0.2 and abs(float(where[1]) - centre[1]) < 0.2


def test_pointer_targets_sit_on_the_coordinate_digits(processor) -> None:
    image, mask, objects = _scene()
    fractions = object_patch_fractions(processor.image_processor, Image.fromarray(mask), objects)
    answer = '<points alt="red cup" coords="1 1 188 208">red cup</points>'
    enc = encode_example(processor, image, [("Point to the red cup.", answer)], 512)
    digit_ids = set(digit_token_ids(processor.tokenizer))
    objects[0]["point"] = [29.5, 24.5]
    positions, targets, xy = pointer_targets(
        enc, [("point", "red cup")], fractions, objects, digit_ids, (160, 120)
    )
    # The (x, y) target only at the first digit: the later states can read the digits written before them.
    assert torch.allclose(xy[0], torch.tensor([29.5 / 160, 24.5 / 120]))
    assert bool(xy[1:].isnan().all())
    assert len(positions) == 6  # "188 208", not the leading "1 1"
    predicted = processor.tokenizer.convert_ids_to_tokens(enc.input_ids[positions + 1].tolist())
    assert "".join(predicted) == "188208"
    assert torch.allclose(targets.sum(1), torch.ones(6))
    n_tokens = int((enc.image_token_pooling >= 0).any(-1).sum())
    assert targets.shape[1] == n_tokens
    # Not for other styles.
    none, _, _ = pointer_targets(enc, [("count", "red cup")], fractions, objects, digit_ids)
    assert len(none) == 0
    enc.patch_colour, enc.patch_kind = patch_targets(
        enc.pixel_values.shape[0] * enc.pixel_values.shape[1], fractions, objects
    )
    enc.pointer_positions, enc.pointer_targets, enc.pointer_xy = positions, targets, xy
    batch = collate([enc, enc], int(processor.tokenizer.pad_token_id))
    assert batch["aux_ptr_rows"].tolist() == [0] * 6 + [1] * 6
    assert json.dumps(batch["aux_ptr_cols"].tolist())
