"""The processor of a tiny new Molmo2 checkpoint (training.molmo2), for tests of the training code."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

CORPUS = ['<points alt="red cup" coords="1 1 250 500">']


def tiny_processor(folder: Path, **sizes: Any) -> Any:
    """Build a checkpoint of ``Molmo2Sizes.tiny()`` with ``sizes`` over it (one crop, a 400-token vocabulary
    unless given) in `folder` and return its AutoProcessor."""
    from transformers import AutoProcessor

    from training.molmo2 import Molmo2Sizes, build_molmo2_checkpoint

    chosen = {"max_crops": 1, "tokenizer_vocab_size": 400, **sizes}
    build_molmo2_checkpoint(folder, sizes=replace(Molmo2Sizes.tiny(), **chosen), corpus=CORPUS, seed=0)
    return AutoProcessor.from_pretrained(folder)


def coordinate_processor(folder: Path, **sizes: Any) -> Any:
    """:func:`tiny_processor` with coordinate tokens, the question-first template and 2 x 2 pooling."""
    return tiny_processor(folder, image_pooling=(2, 2), coordinate_tokens=True, question_first=True, **sizes)
