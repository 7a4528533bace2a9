"""Matching a query ("the red cup", "Point to the blue ball.") to object labels ("red cup"), for point
sources that know the scene (the simulation's ground truth) rather than asking a model."""

from __future__ import annotations

import re
from collections.abc import Sequence

_WORD = re.compile(r"[a-z]+")


def _words(text: str) -> set[str]:
    words = set()
    for word in _WORD.findall(text.lower()):
        words.add(word)
        if len(word) > 3 and word.endswith("s"):
            words.add(word[:-1])  # plurals: "cups" names cups
    return words


def match_labels(query: str, labels: Sequence[str]) -> list[int]:
    """Indices of `labels` every word of which appears in `query` (most specific labels first)."""
    words = _words(query)
    hits = [i for i, label in enumerate(labels) if _words(label) and _words(label) <= words]
    return sorted(hits, key=lambda i: -len(_words(labels[i])))
