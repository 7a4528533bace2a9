"""A trained checkpoint with another crop size: the ViT's learned position table resized to the new patch grid.

Molmo2's ViT adds a learned table of ``num_position_embeddings`` rows, one per patch of the crop, and does not
interpolate it at run time, so a checkpoint trained at one crop cannot read another. This writes a copy whose
config, image processor and table (bicubic resize of the square grid) match ``crop_size``; the rest of the
weights are unchanged. Used by training/README.md "R19" (280 -> 448 px).

    python -m training.molmo2.recrop --model molmo_ros/checkpoints/molmo2-tiny-sim --crop 448 --out out/init448
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

__all__ = ["POSITION_TABLE", "main", "recrop_checkpoint", "resize_position_table"]

#: The ViT's position table in our checkpoints' state dict.
POSITION_TABLE = "model.vision_backbone.image_vit.positional_embedding"


def resize_position_table(table: torch.Tensor, patches: int) -> torch.Tensor:
    """A ``(n * n, hidden)`` table of a square patch grid -> ``(patches * patches, hidden)``, bicubic."""
    side = round(table.shape[0] ** 0.5)
    if side * side != table.shape[0]:
        raise ValueError(f"the position table has {table.shape[0]} rows: not a square grid")
    grid = table.reshape(side, side, -1).permute(2, 0, 1)[None]
    resized = torch.nn.functional.interpolate(
        grid, size=(patches, patches), mode="bicubic", align_corners=False
    )
    return resized[0].permute(1, 2, 0).reshape(patches * patches, -1).contiguous()


def recrop_checkpoint(model_dir: Path, crop_size: int, out: Path) -> dict[str, int]:
    """Copy the checkpoint ``model_dir`` to ``out`` with a ``crop_size`` px crop; returns the old and new grids.

    Raises:
        ValueError: ``crop_size`` is not a positive multiple of the ViT's patch size.
    """
    config = json.loads((model_dir / "config.json").read_text())
    vision = config["vision_config"]
    patch = int(vision["patch_size"])
    if crop_size <= 0 or crop_size % patch:
        raise ValueError(f"crop_size {crop_size} px is not a positive multiple of the {patch} px patches")
    processor = json.loads((model_dir / "processor_config.json").read_text())
    image = processor["image_processor"]
    old, new = int(vision["image_size"][0]) // patch, crop_size // patch
    if out.resolve() != model_dir.resolve():
        shutil.copytree(model_dir, out, dirs_exist_ok=True)
    vision["image_size"] = [crop_size, crop_size]
    vision["num_position_embeddings"] = new * new
    (out / "config.json").write_text(json.dumps(config, indent=2))
    image["size"] = {"height": crop_size, "width": crop_size}
    (out / "processor_config.json").write_text(json.dumps(processor, indent=2))
    weights = load_file(str(model_dir / "model.safetensors"))
    weights[POSITION_TABLE] = resize_position_table(weights[POSITION_TABLE], new)
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    return {"old_grid": old, "new_grid": new}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a checkpoint directory (save_pretrained)")
    parser.add_argument("--crop", type=int, required=True, help="the new crop size, px")
    parser.add_argument("--out", type=Path, required=True, help="where the copy goes")
    args = parser.parse_args(argv)
    print(json.dumps(recrop_checkpoint(args.model, args.crop, args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
