"""training.molmo2.recrop: a trained checkpoint read at another crop size (training/README.md, "R19")."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from training.molmo2 import tiny_checkpoint
from training.molmo2.recrop import recrop_checkpoint, resize_position_table


def test_the_resized_table_keeps_a_smooth_grid_and_refuses_a_non_square_one() -> None:
    side = 4
    ys, xs = torch.meshgrid(
        torch.arange(side, dtype=torch.float32), torch.arange(side, dtype=torch.float32), indexing="ij"
    )
    table = torch.stack([xs, ys], dim=-1).reshape(side * side, 2)  # each row holds its own (x, y)
    big = resize_position_table(table, 8).reshape(8, 8, 2)
    assert big.shape == (8, 8, 2)
    assert torch.all(big[:, 1:, 0] >= big[:, :-1, 0]) and torch.all(big[1:, :, 1] >= big[:-1, :, 1])
    assert float(big[..., 0].min()) < 0.5 and float(big[..., 0].max()) > side - 1.5
    with pytest.raises(ValueError, match="not a square grid"):
        resize_position_table(torch.zeros(15, 2), 8)


def test_a_recropped_checkpoint_loads_and_reads_the_picture_at_the_new_size(tmp_path) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    src = tiny_checkpoint(tmp_path / "cache")
    config = json.loads((src / "config.json").read_text())["vision_config"]
    patch, crop = config["patch_size"], config["image_size"][0]
    new_crop = 2 * crop
    with pytest.raises(ValueError, match="not a positive multiple"):
        recrop_checkpoint(src, new_crop + 1, tmp_path / "bad")
    grids = recrop_checkpoint(src, new_crop, tmp_path / "big")
    assert grids == {"old_grid": crop // patch, "new_grid": new_crop // patch}

    model = AutoModelForImageTextToText.from_pretrained(tmp_path / "big").eval()
    processor = AutoProcessor.from_pretrained(tmp_path / "big")
    assert model.model.vision_tower.positional_embedding.shape[0] == (new_crop // patch) ** 2
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8))
    inputs = processor(text="Point to the red cup.<|image|>", images=[picture], return_tensors="pt")
    assert inputs["pixel_values"].shape[-2] == (new_crop // patch) ** 2
    with torch.no_grad():
        out = model(**inputs)
    assert torch.isfinite(out.logits).all()
