"""Ending a point answer as soon as its coordinates are written (the transformers backend's ``stop_after_points``).

A Molmo point answer is ``<points alt="red cup" coords="1 1 396 555">red cup</points>``: once the opening tag
has closed (``">``, after every attribute, in either attribute order) every coordinate is known, and the rest
repeats the alt text and closes the tag. The backend applies it to Molmo2 checkpoints only (Molmo v1's remote
``generate_from_batch`` is left as it is). Measured on the bundled checkpoint (2 cores, 1 thread): that rest is 6
of an answer's 23 decoding steps, 92 -> 72 ms of ``generate``. The backend's prompt-lookup decoding
(:mod:`molmo_ros.models.lookup_decoding`) stops on the same tokens (:attr:`PointsEndCriterion.token_ids`). Greedy decoding writes the same tokens up to that point, so the points are those of the whole
answer; :func:`molmo_ros.pointing.parse_points` reads a tag that never closes (its ``alt`` gives the label).

transformers' own ``stop_strings`` does the same for any text, but checks every step against the text's
tokenisations; this criterion is one ``isin`` on the last token, with the token ids found once per tokenizer.
Imported only by the transformers backend (it imports torch and transformers).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

__all__ = ["TAG_END", "PointsEndCriterion", "stop_after_points_criteria", "tag_end_token_ids", "token_texts"]

#: The text that ends a point tag's opening: ``"`` closing the last attribute, then ``>``.
TAG_END = '">'


@functools.lru_cache(maxsize=4)
def token_texts(tokenizer: Any) -> tuple[str, ...]:
    """The text of every token id of ``tokenizer``, decoded once per tokenizer (the stop tokens and the
    lookup decoding's coordinate tokens both read it)."""
    return tuple(tokenizer.batch_decode([[i] for i in range(len(tokenizer))], skip_special_tokens=False))


def tag_end_token_ids(tokenizer: Any) -> list[int]:
    """Ids of every token whose text ends with :data:`TAG_END` (``">`` itself, or a merge such as ``">\\n``
    does not count: only a token that *ends* the opening tag stops the answer there)."""
    return [i for i, text in enumerate(token_texts(tokenizer)) if text.endswith(TAG_END)]


class PointsEndCriterion(StoppingCriteria):
    """A transformers ``StoppingCriteria``: true for the sequences whose last token ends with :data:`TAG_END`.

    Args:
        token_ids: from :func:`tag_end_token_ids`.
    """

    def __init__(self, token_ids: list[int]) -> None:
        self.token_ids = frozenset(token_ids)
        self._ids = torch.tensor(token_ids, dtype=torch.long)

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        """``input_ids``: (batch, length) tokens so far; returns (batch,) bool."""
        return torch.isin(input_ids[:, -1], self._ids.to(input_ids.device))


def stop_after_points_criteria(tokenizer: Any) -> StoppingCriteriaList:
    """What ``generate(stopping_criteria=...)`` takes to end an answer after its point tag's opening."""
    return StoppingCriteriaList([PointsEndCriterion(tag_end_token_ids(tokenizer))])
