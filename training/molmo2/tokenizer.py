"""The tokenizer of a new Molmo2 checkpoint: a small deterministic corpus and a byte-level BPE trained on it."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from training.molmo2.chat_format import (
    ANSWER_TAG_TOKENS,
    BOS_TOKEN,
    COORDINATE_TOKENS,
    EOS_TOKEN,
    IMAGE_SPECIAL_TOKENS,
    PAD_TOKEN,
    POINT_TAG_TOKENS,
    SPACED_COORDINATE_TOKENS,
    TEXT_SPECIAL_TOKENS,
)

_COLOURS = ("red", "green", "blue", "yellow", "orange", "purple", "white", "black", "grey", "brown", "pink")
_OBJECTS = (
    "cup", "mug", "bowl", "plate", "bottle", "can", "box", "block", "cube", "ball", "disc", "square",
    "banana", "apple", "orange", "lemon", "spoon", "fork", "knife", "pen", "marker", "book", "phone",
    "sponge", "tray", "basket", "jar", "lid", "toy", "car", "robot", "gripper", "arm", "table",
)  # fmt: skip
_SENTENCES = (
    "Point to the {c} {o}.\nPlease say 'There are none.' if it is not in the image.",
    "Point to all the {o}s in the image.",
    "Count the {c} {o}s.",
    "How many {o}s are there?",
    "Is there a {c} {o} on the table?",
    "Describe this image.",
    "Describe the scene in detail.",
    "The image shows a {c} {o} next to a {c2} {o2} on a wooden table.",
    "A robot arm stands behind a table with a {c} {o}, a {c2} {o2} and other objects.",
    "There is a {c} {o} in the top left corner and a {c2} {o2} near the centre of the picture.",
    "There are none.",
    "This isn't in the image.",
    "Yes, there is a {c} {o} on the table.",
    "No, the {o} is not in the image.",
    "The camera looks down at the table from above; the light comes from the left.",
)


def _molmo2_points(rng: random.Random, label: str, count: int) -> str:
    """A Molmo2 point answer: ``<points alt=.. coords="1 ID X Y ...">label</points>``, X, Y on 0-1000."""
    groups = " ".join(f"{i + 1} {rng.randint(0, 999):03d} {rng.randint(0, 999):03d}" for i in range(count))
    return f'<points alt="{label}" coords="1 {groups}">{label}</points>'


def _molmo1_points(rng: random.Random, label: str, count: int) -> str:
    """A Molmo v1 point answer, x and y in percent with one decimal."""
    if count == 1:
        return f'<point x="{rng.uniform(0, 100):.1f}" y="{rng.uniform(0, 100):.1f}" alt="{label}">{label}</point>'
    coords = " ".join(
        f'x{i + 1}="{rng.uniform(0, 100):.1f}" y{i + 1}="{rng.uniform(0, 100):.1f}"' for i in range(count)
    )
    return f'<points {coords} alt="{label}">{label}</points>'


def default_corpus(num_lines: int = 3000, seed: int = 0) -> list[str]:
    """A small deterministic corpus for the tokenizer: prompts, captions, answers and point tags.

    It covers English words of table-top scenes, every digit (numbers are split one digit per token anyway),
    the Molmo2 point format (``coords="1 1 123 456"``), the Molmo v1 formats and counting answers, so the BPE
    merges learn the tag syntax (``<points``, ``alt="``, ``coords="``, ``</points>``) as few tokens.
    """
    rng = random.Random(seed)
    lines: list[str] = []
    for _ in range(num_lines):
        c, c2 = rng.choice(_COLOURS), rng.choice(_COLOURS)
        o, o2 = rng.choice(_OBJECTS), rng.choice(_OBJECTS)
        label = f"{c} {o}" if rng.random() < 0.7 else o
        kind = rng.random()
        if kind < 0.35:
            lines.append(rng.choice(_SENTENCES).format(c=c, o=o, c2=c2, o2=o2))
        elif kind < 0.65:
            lines.append(_molmo2_points(rng, label, rng.randint(1, 4)))
        elif kind < 0.75:
            lines.append(_molmo1_points(rng, label, rng.randint(1, 3)))
        elif kind < 0.9:
            n = rng.randint(1, 5)
            lines.append(f"Counting the {_molmo2_points(rng, label, n)} shows a total of {n}.")
        else:
            lines.append(f"{rng.randint(0, 10_000)} {rng.uniform(0, 1000):.1f} {rng.randint(0, 9)}")
    return lines


# -------------------------------------------------------------------------------------------- tokenizer


def build_tokenizer(
    corpus: Iterable[str],
    vocab_size: int = 512,
    coordinate_tokens: bool = False,
    answer_tokens: bool = False,
    answer_tag_tokens: bool = False,
) -> Any:
    """Train a byte-level BPE tokenizer and wrap it for transformers.

    Digits are isolated before the byte-level split, so every number is spelled one digit per token as Qwen's
    (and so Molmo2's) tokenizers do; merged numbers make coordinates much harder to learn.

    Args:
        corpus: training text, one sample per item.
        vocab_size: target vocabulary size including the three chat tokens (the ten image tokens come on top).
        coordinate_tokens: add :data:`COORDINATE_TOKENS` as ordinary tokens after the merges; added tokens are
            matched before the digit split (longest first), so ``"073"`` is one token and ``"1000"`` another.
        answer_tokens: with ``coordinate_tokens``, add :data:`SPACED_COORDINATE_TOKENS` (``" 073"``) instead and
            :data:`ANSWER_TAG_TOKENS` (``'<points alt="'``, ``" 2"`` ...): the same text in fewer tokens.
        answer_tag_tokens: with ``coordinate_tokens`` (and without ``answer_tokens``), add only
            :data:`POINT_TAG_TOKENS`: the tag in 4 tokens, the coordinates spelled as before.

    Returns:
        A ``transformers.PreTrainedTokenizerFast`` whose ids are: chat tokens ``0..2``, byte symbols and merges,
        the coordinate tokens (when asked for), then the ten image/video tokens as the last ids.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(TEXT_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodable, whatever the corpus
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    if coordinate_tokens:
        if answer_tokens:
            added: tuple[str, ...] = (*SPACED_COORDINATE_TOKENS, *ANSWER_TAG_TOKENS)
        else:
            added = (*COORDINATE_TOKENS, *(POINT_TAG_TOKENS if answer_tag_tokens else ()))
        tok.add_tokens([AddedToken(t, normalized=False) for t in added])
    # Added after training, so they take the ids right after the text vocabulary.
    tok.add_special_tokens(list(IMAGE_SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        padding_side="left",  # batched generation appends on the right
        model_max_length=1 << 20,
    )


# ------------------------------------------------------------------------------------------------ build
