"""A two-object picture with its mask and objects, and a point answer naming both, for the training tests."""

from __future__ import annotations

import numpy as np
from PIL import Image


def two_object_scene() -> tuple[Image.Image, np.ndarray, list[dict]]:
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


def two_object_answer() -> tuple[str, list[dict]]:
    """A point answer with both objects of :func:`two_object_scene` (their points set), and the objects."""
    _, _, objects = two_object_scene()
    objects[0].update(point=[29.5, 24.5], visible=True)  # red cup, top left
    objects[1].update(point=[129.5, 94.5], visible=True)  # blue ball, bottom right
    answer = '<points alt="objects" coords="1 1 188 208 2 813 792">objects</points>'
    return answer, objects
