"""Run the vision tower once per distinct crop.

With ``max_crops: 1`` the Molmo2 processor gives every picture two views that are the same pixels: the global
("low-res") view, the whole picture resized to ``crop_size``, and the one tile of the crop canvas, which is the
whole picture resized to the same ``crop_size`` square (``image_processing_molmo2``: canvas = one window plus the
margins = ``crop_size``). The ViT then computes every picture twice. Both views stay in the model's input, as
the Molmo2 format has them, and the language model still reads both token blocks; only the duplicate ViT pass
is skipped: a crop equal to the one before it takes that crop's outputs. The outputs, and the gradients (the
copies' gradients add up on the one computed crop), are those of the full pass (``test/models/test_shared_crops.py``).
Training and the transformers backend both use it; for a checkpoint whose crops all differ (``max_crops`` > 1, a
real Molmo2) nothing changes but one comparison of the crops' pixels.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["distinct_crops", "repeated_crops", "share_identical_crops"]


def repeated_crops(pixel_values: torch.Tensor) -> torch.Tensor:
    """``(crops,)`` bool: True where a crop equals the crop before it (pixel_values ``(crops, patches, dim)``)."""
    same = torch.zeros(pixel_values.shape[0], dtype=torch.bool, device=pixel_values.device)
    if pixel_values.shape[0] > 1:
        same[1:] = (pixel_values[1:] == pixel_values[:-1]).flatten(1).all(1)
    return same


def distinct_crops(pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each run of identical consecutive crops kept once, ``(unique, patches, dim)``, and for every crop the index
    of the kept one, ``(crops,)``: ``unique[source]`` is ``pixel_values`` again. Where no crop repeats,
    ``unique`` is ``pixel_values`` itself, not a copy (the vision tower's path for a real Molmo2's crops)."""
    same = repeated_crops(pixel_values)
    if not bool(same.any()):
        return pixel_values, torch.arange(pixel_values.shape[0], device=pixel_values.device)
    return pixel_values[~same], torch.cumsum(~same, 0) - 1


def _expand(value: Any, source: torch.Tensor, n_unique: int) -> Any:
    if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == n_unique:
        return value.index_select(0, source)
    if isinstance(value, tuple):
        return tuple(_expand(v, source, n_unique) for v in value)
    return value


def share_identical_crops(vision_tower: torch.nn.Module) -> None:
    """Make ``vision_tower`` (a ``Molmo2VisionModel``) compute each run of identical consecutive crops once.

    The instance's ``forward`` is replaced (its class, parameters and state dict are unchanged, and hooks on the
    module still see the full output, one row per crop).
    """
    if getattr(vision_tower, "_shares_identical_crops", False):
        return
    inner = vision_tower.forward

    def forward(pixel_values: torch.Tensor, **kwargs: Any) -> Any:
        if pixel_values.dim() != 3:
            return inner(pixel_values, **kwargs)
        unique, source = distinct_crops(pixel_values)  # source: the computed crop each crop copies
        if unique.shape[0] == pixel_values.shape[0]:
            return inner(pixel_values, **kwargs)
        out = inner(unique, **kwargs)
        for key in list(out.keys()):
            out[key] = _expand(out[key], source, unique.shape[0])
        return out

    vision_tower.forward = forward
    vision_tower._shares_identical_crops = True
