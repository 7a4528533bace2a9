"""Which of a row's questions an example takes: draw weights by style, answer and look-alike kinds.

A row of the mixture holds several questions about one picture; an example takes the first ``max_turns`` of
them in a weighted random order. The weights shift the mixture without re-rendering the data
(``data.style_weights`` in the configs, :class:`training.config.DataConfig`).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence

from training.coords import point_groups
from training.data.tasks import ABSENT_ANSWER, plural

__all__ = ["LOOKALIKE_KINDS", "asked_kind", "question_weight", "visible_kinds", "weighted_order"]

#: Kinds the model confuses most (R13: cup -> mug 33 and mug -> cup 29 of its 127 wrong points, and 39 of the
#: 59 surplus points of its counting answers), which differ by one part (the mug's handle).
LOOKALIKE_KINDS = {"cup": "mug", "mug": "cup"}

#: A turn of a row: (prompt, answer, style).
Turn = tuple[str, str, str]


def asked_kind(prompt: str) -> str | None:
    """The catalogue kind a question names (``"Count the mugs."`` -> ``"mug"``), or None."""
    from molmo_ros.sim.catalogue import KINDS

    names = {plural(k): k for k in KINDS} | {k: k for k in KINDS}
    for word in re.findall(r"[a-z]+", prompt.lower()):
        if word in names:
            return names[word]
    return None


def visible_kinds(objects_json: str | None) -> frozenset[str]:
    """The kinds of the objects a row's ``objects`` column (JSON) lists as visible in its picture."""
    objects = json.loads(objects_json) if objects_json else []
    return frozenset(o["kind"] for o in objects if o.get("visible", True) and o.get("pixels", 1) > 0)


def _style_weight(weights: Mapping[str, float], style: str, answer: str) -> float:
    if answer == ABSENT_ANSWER and f"{style}:none" in weights:
        return float(weights[f"{style}:none"])
    if f"{style}:several" in weights and point_groups(answer) >= 2:
        return float(weights[f"{style}:several"])
    if style in weights:
        return float(weights[style])
    if style.startswith("qa_"):
        return float(weights.get("qa", 1.0))
    return 1.0


def question_weight(weights: Mapping[str, float], turn: Turn, kinds: frozenset[str] = frozenset()) -> float:
    """The draw weight of one question (relative, > 0 unless a weight is 0); ``kinds``: the kinds visible in
    its picture. Keys of ``weights``: a style, ``qa`` (every ``qa_*`` style), ``<style>:none`` (answered
    "There are none."), ``<style>:several`` (two or more point groups), ``lookalike`` (a factor for a question
    naming a kind whose look-alike, :data:`LOOKALIKE_KINDS`, is in the picture)."""
    prompt, answer, style = turn
    base = _style_weight(weights, style, answer)
    asked = asked_kind(prompt)
    if asked in LOOKALIKE_KINDS and LOOKALIKE_KINDS[asked] in kinds:
        return base * float(weights.get("lookalike", 1.0))
    return base


def weighted_order(
    turns: Sequence[Turn], rng: random.Random, weights: Mapping[str, float], objects_json: str | None = None
) -> list[Turn]:
    """``turns`` in a random order drawn without replacement with :func:`question_weight` (uniform when
    ``weights`` is empty): sorting by ``u ** (1 / w)`` (Efraimidis and Spirakis) draws that order in one pass."""
    if not weights:
        shuffled = list(turns)
        rng.shuffle(shuffled)
        return shuffled
    kinds = visible_kinds(objects_json) if "lookalike" in weights else frozenset()
    keys = [rng.random() ** (1.0 / max(question_weight(weights, t, kinds), 1e-9)) for t in turns]
    return [t for _, t in sorted(zip(keys, turns, strict=True), key=lambda kt: -kt[0])]
