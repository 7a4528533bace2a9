"""A picture through the model's image processor once, its questions tokenised many times.

A training row comes back every epoch with another question. Measured on its own, preparing a batch of 16
(224 px, after the first epoch) took 0.23 s with the processor and 0.11 s with this cache; in the training
loop no step-time gain was measurable (run R3, training/README.md). :class:`Picture` keeps what the processor
made of a picture, the crops as the resized bytes (uint8: the processor rounds to bytes before it normalises,
so its own normalisation of the bytes gives back exactly its float pixels, at a quarter of the memory: ~0.3 MB
a 224 px picture); :func:`prompt_inputs` tokenises a prompt around it the way the processor does (the
placeholder expanded to the image tokens, BOS first).
``test/training/test_pictures.py`` checks both against the processor. With a
:class:`training.picture_store.PictureStore` the cache also keeps its pictures on disk for later stages and runs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from molmo_ros.models.shared_crops import distinct_crops
from molmo_ros.models.single_resize import resize_once
from training.picture_store import PictureStore

__all__ = ["Picture", "PictureCache", "picture_of", "pixels", "prompt_inputs"]


@dataclass
class Picture:
    """One picture as the processor saw it.

    crops: (crops, patches, patch_px * patch_px * 3) uint8, the resized bytes before normalisation;
    image_token_pooling: (tokens, pool) int; image_grids: (1, 4); image_num_crops: (1,);
    size: the original (width, height) in pixels.
    """

    crops: torch.Tensor
    image_token_pooling: torch.Tensor
    image_grids: torch.Tensor
    image_num_crops: torch.Tensor
    size: tuple[int, int]

    def to_record(self) -> dict[str, Any]:
        """The fields as a :class:`PictureStore` entry; equal consecutive crops (the global view and the one tile
        of a single-crop picture) are kept once, as the vision tower computes them (:func:`distinct_crops`)."""
        crops, crop_index = distinct_crops(self.crops)
        return {
            "crops": crops,
            "crop_index": crop_index,
            "image_token_pooling": self.image_token_pooling,
            "image_grids": self.image_grids,
            "image_num_crops": self.image_num_crops,
            "size": list(self.size),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Picture:
        """The picture :meth:`to_record` made ``record`` of."""
        return cls(
            crops=record["crops"][record["crop_index"]],
            image_token_pooling=record["image_token_pooling"],
            image_grids=record["image_grids"],
            image_num_crops=record["image_num_crops"],
            size=(int(record["size"][0]), int(record["size"][1])),
        )


def _normalise(image_processor: Any, crops: torch.Tensor) -> torch.Tensor:
    """uint8 ``(..., 3)`` channel-last bytes -> the processor's own rescale + normalise of them (float, the same
    shape): its function on a channel-first view, so the floats are the ones it makes."""
    p = image_processor
    channels_first = crops.reshape(-1, 3).T.reshape(1, 3, -1, 1)
    out = p.rescale_and_normalize(
        channels_first, p.do_rescale, p.rescale_factor, p.do_normalize, p.image_mean, p.image_std
    )
    return out.reshape(3, -1).T.reshape(crops.shape).to(torch.float32)


def pixels(image_processor: Any, picture: Picture) -> torch.Tensor:
    """The processor's float ``pixel_values`` of ``picture``: (crops, patches, patch_px * patch_px * 3)."""
    return _normalise(image_processor, picture.crops)


def picture_of(image_processor: Any, image: Any) -> Picture:
    """A PIL picture through ``image_processor`` (the model's Molmo2 image processor)."""
    import numpy as np
    from PIL import Image

    array = np.asarray(image)
    once = resize_once(image_processor, array)  # the same pixels in half the time
    enc = image_processor([image if once is array else Image.fromarray(once)], return_tensors="pt")
    values = enc["pixel_values"]
    crops = values.reshape(*values.shape[:-1], -1, 3)
    # Invert the per-channel affine map to the nearest byte (the test checks nothing is lost).
    ends = _normalise(image_processor, torch.tensor([[0, 0, 0], [1, 1, 1]], dtype=torch.uint8))
    offset, scale = ends[0], ends[1] - ends[0]
    as_bytes = torch.round((crops - offset) / scale).clamp(0, 255).to(torch.uint8)
    return Picture(
        crops=as_bytes.reshape(values.shape),
        image_token_pooling=enc["image_token_pooling"],
        image_grids=enc["image_grids"],
        image_num_crops=enc["image_num_crops"],
        size=tuple(image.size),
    )


def prompt_inputs(processor: Any, picture: Picture, prompt: str) -> tuple[list[int], list[int]]:
    """``(input_ids, mm_token_type_ids)`` of a chat-template ``prompt`` holding one picture placeholder, as
    ``processor(images=[image], text=prompt)`` makes them."""
    tokenizer = processor.tokenizer
    bos = tokenizer.bos_token or tokenizer.eos_token
    text = prompt if prompt.startswith(bos) else bos + prompt
    if text.count(processor.image_token) != 1:
        raise ValueError(f"a prompt needs exactly one {processor.image_token!r}, got {text!r}")
    expanded = text.replace(processor.image_token, processor.replace_image_token(vars(picture), 0))
    ids = tokenizer(expanded, add_special_tokens=False)["input_ids"]
    return ids, processor.create_mm_token_type_ids([ids])[0]


class PictureCache:
    """The most recent ``capacity`` rows' pictures (least recently used out first); 0 keeps none. With a
    ``store``, a picture not in memory is read from it, or made and written to it."""

    def __init__(self, image_processor: Any, capacity: int, store: PictureStore | None = None) -> None:
        self.image_processor, self.capacity, self.store = image_processor, capacity, store
        self._pictures: OrderedDict[int, Picture] = OrderedDict()

    def get(
        self, key: int, load_image: Callable[[], Any], name: Callable[[], str | None] | None = None
    ) -> Picture:
        """The picture of row ``key``; ``load_image()`` gives the PIL picture when it is not kept, ``name()``
        its store entry's name (None: not stored)."""
        picture = self._pictures.get(key)
        if picture is not None:
            self._pictures.move_to_end(key)
            return picture
        store = self.store
        entry = name() if store is not None and name is not None else None
        if store is None or entry is None:
            picture = picture_of(self.image_processor, load_image())
        else:
            record = store.fetch(
                "picture", entry, lambda: picture_of(self.image_processor, load_image()).to_record()
            )
            picture = Picture.from_record(record)
        if self.capacity > 0:
            self._pictures[key] = picture
            while len(self._pictures) > self.capacity:
                self._pictures.popitem(last=False)
        return picture
