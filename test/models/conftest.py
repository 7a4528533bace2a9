"""Fixtures of the model tests: the tiny random Molmo2 (``tiny_ckpt``, test/conftest.py) loaded, a picture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from molmo_ros.models.transformers_backend import TransformersPointModel


@pytest.fixture(scope="session")
def tiny_model(tiny_ckpt: Path) -> Iterator[TransformersPointModel]:
    """The tiny checkpoint loaded on the CPU through the transformers backend (shared: do not train it)."""
    model = TransformersPointModel(tiny_ckpt, device="cpu", max_new_tokens=16)
    yield model
    model.close()


@pytest.fixture
def scene_image() -> np.ndarray:
    """A 640x480 RGB picture: grey table, a red square centred at (320, 240) px, a blue disc top left."""
    image = np.full((480, 640, 3), 128, dtype=np.uint8)
    image[210:270, 290:350] = (220, 30, 30)
    yy, xx = np.mgrid[0:480, 0:640]
    image[(xx - 120) ** 2 + (yy - 100) ** 2 < 40**2] = (30, 40, 220)
    return image
