"""Making Molmo2 checkpoints from scratch (tokenizer, configuration, random weights, processor).

- :mod:`chat_format`: chat, image and coordinate tokens and the chat templates of our checkpoints
- :mod:`sizes`: :class:`Molmo2Sizes` (tiny test model, the shipped model, the real 4B / 8B sizes)
- :mod:`read_sizes`: the sizes of a saved checkpoint, read back from its files
- :mod:`tokenizer`: the corpus and the byte-level BPE tokenizer
- :mod:`build`: :func:`build_molmo2`, :func:`build_molmo2_checkpoint`, :func:`tiny_checkpoint` (cached, for tests
  and benchmarks), :func:`fix_embedding_split`
"""

from training.molmo2.build import build_molmo2, build_molmo2_checkpoint, fix_embedding_split, tiny_checkpoint
from training.molmo2.chat_format import (
    ANSWER_TAG_TOKENS,
    BOS_TOKEN,
    CHAT_TEMPLATE,
    COORDINATE_TOKENS,
    EOS_TOKEN,
    IMAGE_SPECIAL_TOKENS,
    PAD_TOKEN,
    POINT_TAG_TOKENS,
    QUESTION_FIRST_TEMPLATE,
    SPACED_COORDINATE_TOKENS,
    TEXT_SPECIAL_TOKENS,
)
from training.molmo2.sizes import BuildInfo, Molmo2Sizes
from training.molmo2.tokenizer import build_tokenizer, default_corpus

__all__ = [
    "ANSWER_TAG_TOKENS",
    "BOS_TOKEN",
    "CHAT_TEMPLATE",
    "COORDINATE_TOKENS",
    "EOS_TOKEN",
    "IMAGE_SPECIAL_TOKENS",
    "PAD_TOKEN",
    "POINT_TAG_TOKENS",
    "QUESTION_FIRST_TEMPLATE",
    "SPACED_COORDINATE_TOKENS",
    "TEXT_SPECIAL_TOKENS",
    "BuildInfo",
    "Molmo2Sizes",
    "build_molmo2",
    "build_molmo2_checkpoint",
    "build_tokenizer",
    "default_corpus",
    "fix_embedding_split",
    "tiny_checkpoint",
]
