"""Matching a query ("the red cup", "Point to the blue ball.") to object labels ("red cup"), for point
sources that know the scene (the simulation's ground truth) rather than asking a model."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

_WORD = re.compile(r"[a-z]+")


def _words(text: str) -> set[str]:
    words = set()
    for word in _WORD.findall(text.lower()):
        words.add(word)
        if len(word) > 3 and word.endswith("s"):
            words.add(word[:-1])  # plurals: "cups" names cups
    return words


def match_labels(query: str, labels: Sequence[str], modifiers: Collection[str] | None = None) -> list[int]:
    """Indices of `labels` ("red cup": modifiers, then the noun) that `query` names, most specific first.

    A label matches when every word of it appears in the query. With `modifiers` (the words that narrow a
    noun down, e.g. every colour name) a query that uses none of them names every label with its noun:
    "all the blocks" and "the bowl" match "red block", "blue block" and "green bowl"; "the blue block" still
    matches only a blue block.
    """
    words = _words(query)
    narrowed = modifiers is None or bool(words & {m.lower() for m in modifiers})
    hits = []
    for i, label in enumerate(labels):
        label_words = _words(label)
        noun = label.lower().split()[-1] if label.split() else ""
        if label_words and (label_words <= words or (not narrowed and noun in words)):
            hits.append(i)
    return sorted(hits, key=lambda i: -len(_words(labels[i])))
