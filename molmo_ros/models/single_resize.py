"""Resize a camera picture once for a single-crop Molmo2 image processor, before the processor sees it.

With ``max_crops: 1`` the Molmo2 image processor resizes the whole picture twice to the same square: once for
the global view and once for the crop canvas, which is one window plus its margins, that is ``crop_size``
(``molmo_ros.models.shared_crops`` says the same of the vision tower). Resized here once to that square, with
the processor's own resize (bilinear in float, no antialiasing, rounded back to bytes), the picture leaves the
processor two resizes of a square to itself, which change nothing. Its ``pixel_values`` and indices come out
bit for bit the same (``test/models/test_single_resize.py``), in about half the preprocessing time (a 640 x 480
picture: ``scripts/bench_point_service.py`` ``preprocess_ms``). Any other processor (several crops, no resize,
Molmo1) gets the picture as it came.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["resize_once", "single_crop_size"]


def single_crop_size(image_processor: Any) -> int | None:
    """The square side (px) a single-crop Molmo2 image processor resizes every picture to, else None."""
    if type(image_processor).__name__ != "Molmo2ImageProcessor":
        return None
    size = getattr(image_processor, "size", None)  # a SizeDict (a dict in older transformers)
    height, width = (
        (size.get("height"), size.get("width"))
        if isinstance(size, dict)
        else (
            getattr(size, "height", None),
            getattr(size, "width", None),
        )
    )
    if getattr(image_processor, "max_crops", None) != 1 or not getattr(image_processor, "do_resize", False):
        return None
    if not height or height != width:
        return None
    return int(height)


def resize_once(image_processor: Any, image: np.ndarray) -> np.ndarray:
    """``image`` ``(H, W, 3)`` uint8 resized to the processor's square ``(S, S, 3)`` uint8 the way the processor
    resizes it, when the processor is single-crop Molmo2 (:func:`single_crop_size`); else ``image`` itself."""
    side = single_crop_size(image_processor)
    if side is None or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        return image
    if image.shape[:2] == (side, side):
        return image
    import torch
    from transformers.image_utils import SizeDict

    channels_first = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1).unsqueeze(0)
    resized = image_processor.resize(
        channels_first,
        size=SizeDict(height=side, width=side),
        resample=image_processor.resample,
        antialias=False,
    )
    return resized.round().clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0).contiguous().numpy()
