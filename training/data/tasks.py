"""Text for the two training stages, written from a scene's ground truth.

* Stage 1, dense captions (the PixMo-Cap role): what the picture is, which objects, how many, their colours,
  where they stand (left / middle / right, back / front) and how they relate (left of, in front of), in varied
  templates and lengths.
* Stage 2, the mixture (PixMo-Points / AskModelAnything roles): point to one object, point to all objects of a
  kind or colour, count with points, "not present" questions answered ``There are none.``, short questions
  (colour, yes/no, which is further left, leftmost / nearest object).

Answers use the Molmo2 output format (``../shared/DESIGN.md``)::

    <points alt="red cup" coords="1 1 512 430">red cup</points>
    Counting the <points alt="cups" coords="1 1 210 505 2 640 512">cups</points> shows a total of 2.

Prompts come from :func:`molmo_ros.pointing.point_prompt` / :func:`count_prompt` (plus paraphrases), so training
asks exactly what the point node asks at run time. Several objects are listed left to right (then top to bottom),
the order a reader would scan them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from molmo_ros.pointing import count_prompt, point_prompt
from molmo_ros.sim.catalogue import COLOURS, KINDS
from training.data.scenes import ObjectTruth, RenderedScene, to_molmo2

__all__ = [
    "ABSENT_ANSWER",
    "QA",
    "caption",
    "count_answer",
    "mixture",
    "plural",
    "points_answer",
]

ABSENT_ANSWER = "There are none."

_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@dataclass(frozen=True)
class QA:
    """One question and its answer about an image; ``style`` names the task (for mixing and evaluation)."""

    prompt: str
    answer: str
    style: str


def plural(kind: str) -> str:
    """``"cup"`` -> ``"cups"`` (every catalogue kind takes an -s)."""
    return kind + "s"


def _number(n: int) -> str:
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


def _reading_order(objects: Sequence[ObjectTruth]) -> list[ObjectTruth]:
    """Left to right, then top to bottom (by the target points)."""
    return sorted(objects, key=lambda o: (o.point[0], o.point[1]) if o.point else (0.0, 0.0))


def points_answer(objects: Sequence[ObjectTruth], width: int, height: int, label: str) -> str:
    """Molmo2 point tag for ``objects`` (visible, with points) in an image of ``width`` x ``height`` px, or
    ``There are none.`` when the list is empty."""
    ordered = [o for o in _reading_order(objects) if o.point is not None]
    if not ordered:
        return ABSENT_ANSWER
    groups = " ".join(
        f"{i} {to_molmo2(o.point[0], width):03d} {to_molmo2(o.point[1], height):03d}"  # type: ignore[index]
        for i, o in enumerate(ordered, start=1)
    )
    return f'<points alt="{label}" coords="1 {groups}">{label}</points>'


def count_answer(objects: Sequence[ObjectTruth], width: int, height: int, label: str) -> str:
    """Molmo2 counting answer: ``Counting the <points ...>label</points> shows a total of N.``"""
    if not objects:
        return ABSENT_ANSWER
    return f"Counting the {points_answer(objects, width, height, label)} shows a total of {len(objects)}."


# ------------------------------------------------------------------------------------------ positions


def _column(o: ObjectTruth, width: int) -> str:
    """Where the object stands across the picture. Thresholds split the simulator's object positions in thirds."""
    u = o.point[0] / width  # type: ignore[index]
    return "left" if u < 0.42 else "right" if u > 0.58 else "middle"


def _row(o: ObjectTruth, height: int) -> str:
    """How near the camera the object stands (lower in the picture = nearer)."""
    v = o.point[1] / height  # type: ignore[index]
    return "back" if v < 0.53 else "front" if v > 0.64 else "centre"


def _where(o: ObjectTruth, width: int, height: int, rng: random.Random) -> str:
    column, row = _column(o, width), _row(o, height)
    across = {"left": "on the left", "right": "on the right", "middle": "in the middle"}[column]
    deep = {"back": "at the back", "front": "at the front", "centre": "halfway back"}[row]
    if column == "middle" and row == "centre":
        return "in the centre of the table"
    return rng.choice([f"{across}, {deep}", f"{deep} {across}", f"{across} of the table, {deep}"])


def _relation(a: ObjectTruth, b: ObjectTruth, rng: random.Random) -> str:
    """A sentence relating ``a`` to ``b`` by their image positions."""
    du = a.point[0] - b.point[0]  # type: ignore[index]
    dv = a.point[1] - b.point[1]  # type: ignore[index]
    if abs(du) >= abs(dv):
        side = "left" if du < 0 else "right"
        return rng.choice(
            [
                f"The {a.label} is to the {side} of the {b.label}.",
                f"The {a.label} stands {side} of the {b.label}.",
            ]
        )
    if dv > 0:
        return rng.choice(
            [f"The {a.label} is in front of the {b.label}.", f"The {a.label} is nearer than the {b.label}."]
        )
    return rng.choice(
        [f"The {a.label} is behind the {b.label}.", f"The {a.label} is further back than the {b.label}."]
    )


def _a(phrase: str) -> str:
    """``"orange mug"`` -> ``"an orange mug"``."""
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def _list(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


# ------------------------------------------------------------------------------------------ stage 1

_CAPTION_PROMPTS_LONG = (
    "Describe this image in detail.",
    "Describe the scene.",
    "What do you see in this picture? Describe everything.",
    "Write a detailed caption for this image.",
)
_CAPTION_PROMPTS_SHORT = ("Write a short caption for this image.", "What is in the image? Answer briefly.")


def caption(scene: RenderedScene, rng: random.Random) -> QA:
    """A dense caption of ``scene`` (stage 1): long (objects one by one, positions, relations, counts) or short."""
    objects = _reading_order(scene.visible_objects())
    w, h = scene.width, scene.height
    n = len(objects)
    labels = [_a(o.label) for o in objects]
    if rng.random() < 0.2:
        text = rng.choice(
            [
                f"A robot arm behind a table with {_number(n)} objects: {_list(labels)}.",
                f"{_number(n).capitalize()} objects on a wooden table in front of a robot arm: {_list(labels)}.",
                f"From left to right: {_list([o.label for o in objects])}.",
            ]
        )
        return QA(rng.choice(_CAPTION_PROMPTS_SHORT), text, "caption_short")

    sentences = [
        rng.choice(
            [
                f"The picture shows a wooden table with {_number(n)} objects in front of a grey robot arm.",
                f"A robot arm stands behind a table; {_number(n)} objects are on the table.",
                f"This is a rendered tabletop scene: a robot arm, a table and {_number(n)} objects.",
            ]
        )
    ]
    if rng.random() < 0.5:
        sentences.append(f"From left to right there are {_list(labels)}.")
    for o in objects:
        sentences.append(
            rng.choice(
                [
                    f"The {o.label} is {_where(o, w, h, rng)}.",
                    f"{_where(o, w, h, rng).capitalize()} there is {_a(o.label)}.",
                    f"{_a(o.label).capitalize()} stands {_where(o, w, h, rng)}.",
                ]
            )
        )
    # Counts by kind and by colour, for the ones that repeat.
    for kind in sorted({o.kind for o in objects}):
        same = [o for o in objects if o.kind == kind]
        if len(same) > 1:
            sentences.append(
                f"There are {_number(len(same))} {plural(kind)}: {_list([o.colour for o in same])}."
            )
    for colour in sorted({o.colour for o in objects}):
        same = [o for o in objects if o.colour == colour]
        if len(same) > 1:
            sentences.append(
                f"{_number(len(same)).capitalize()} objects are {colour}: {_list([o.label for o in same])}."
            )
    if n >= 2:
        pairs = [(a, b) for a in objects for b in objects if a is not b]
        for a, b in rng.sample(pairs, k=min(len(pairs), rng.randint(1, 3))):
            sentences.append(_relation(a, b, rng))
        nearest = max(objects, key=lambda o: o.point[1])  # type: ignore[index]
        sentences.append(f"The {nearest.label} is nearest to the camera.")
    hidden = [o for o in scene.objects if not o.visible]
    if hidden:
        sentences.append("Part of the table is hidden behind the robot arm.")
    return QA(rng.choice(_CAPTION_PROMPTS_LONG), " ".join(sentences), "caption")


# ------------------------------------------------------------------------------------------ stage 2


def _point_prompt(phrase: str, rng: random.Random) -> str:
    """The node's pointing prompt most of the time; plain paraphrases otherwise."""
    r = rng.random()
    if r < 0.75:
        return point_prompt(phrase)
    if r < 0.9:
        return point_prompt(phrase, allow_absent=False)
    return f"Where is the {phrase}? Point to it."


def _count_prompt(phrase: str, rng: random.Random) -> str:
    return count_prompt(phrase) if rng.random() < 0.7 else f"How many {phrase} are there?"


def _absent_labels(scene: RenderedScene) -> list[tuple[str, str]]:
    """(colour, kind) pairs that are not in the scene at all (hidden objects do not count as absent)."""
    present = {(o.colour, o.kind) for o in scene.objects}
    return [(c, k) for c in COLOURS for k in KINDS if (c, k) not in present]


def mixture(scene: RenderedScene, rng: random.Random, n: int) -> list[QA]:
    """``n`` stage-2 questions about ``scene``, drawn with these weights: point to one object 40 %, point to
    all of a kind or colour 10 %, count 20 %, not present 15 %, short questions 15 %."""
    w, h = scene.width, scene.height
    visible = scene.visible_objects()
    hidden_kinds = {o.kind for o in scene.objects if not o.visible}
    hidden_colours = {o.colour for o in scene.objects if not o.visible}
    out: list[QA] = []
    tries = 0
    while len(out) < n and tries < 20 * n:
        tries += 1
        r = rng.random()
        if r < 0.40 and visible:
            o = rng.choice(visible)
            out.append(QA(_point_prompt(o.label, rng), points_answer([o], w, h, o.label), "point"))
        elif r < 0.50 and visible:
            if rng.random() < 0.6:
                kind = rng.choice([o.kind for o in visible])
                if kind in hidden_kinds:
                    continue
                group, label = [o for o in visible if o.kind == kind], plural(kind)
            else:
                colour = rng.choice([o.colour for o in visible])
                if colour in hidden_colours:
                    continue
                group, label = [o for o in visible if o.colour == colour], f"{colour} objects"
            out.append(
                QA(_point_prompt(f"all the {label}", rng), points_answer(group, w, h, label), "point_all")
            )
        elif r < 0.70:
            # Kinds that are there (mostly) or not; colours now and then; all objects rarely.
            s = rng.random()
            if s < 0.65 and visible:
                kind = rng.choice([o.kind for o in visible])
            elif s < 0.8:
                kind = rng.choice(list(KINDS))
            else:
                kind = ""
            if kind:
                if kind in hidden_kinds:
                    continue
                group, label = [o for o in visible if o.kind == kind], plural(kind)
            elif rng.random() < 0.5 and visible:
                colour = rng.choice([o.colour for o in visible])
                if colour in hidden_colours:
                    continue
                group, label = [o for o in visible if o.colour == colour], f"{colour} objects"
            else:
                if hidden_kinds:
                    continue
                group, label = visible, "objects"
            out.append(QA(_count_prompt(label, rng), count_answer(group, w, h, label), "count"))
        elif r < 0.85:
            colour, kind = rng.choice(_absent_labels(scene))
            out.append(QA(_point_prompt(f"{colour} {kind}", rng), ABSENT_ANSWER, "absent"))
        elif visible:
            qa = _short_question(scene, visible, rng)
            if qa is not None:
                out.append(qa)
    return out


def _short_question(scene: RenderedScene, visible: list[ObjectTruth], rng: random.Random) -> QA | None:
    r = rng.random()
    if r < 0.3:
        kind = rng.choice([o.kind for o in visible])
        same = [o for o in scene.objects if o.kind == kind]
        if len(same) != 1:
            return None
        return QA(f"What colour is the {kind}?", f"The {kind} is {same[0].colour}.", "qa_colour")
    if r < 0.55:
        if rng.random() < 0.5:
            o = rng.choice(visible)
            colour, kind, yes = o.colour, o.kind, True
        else:
            colour, kind = rng.choice(_absent_labels(scene))
            yes = False
        answer = f"Yes, there is {_a(colour + ' ' + kind)}." if yes else f"No, there is no {colour} {kind}."
        return QA(f"Is there {_a(colour + ' ' + kind)} in the image?", answer, "qa_exists")
    if r < 0.8 and len(visible) >= 2:
        a, b = rng.sample(visible, 2)
        left = a if a.point[0] < b.point[0] else b  # type: ignore[index]
        return QA(f"Which is further left, the {a.label} or the {b.label}?", f"The {left.label}.", "qa_left")
    if len(visible) >= 2:
        if rng.random() < 0.5:
            o, what = min(visible, key=lambda x: x.point[0]), "leftmost"  # type: ignore[index]
        else:
            o, what = max(visible, key=lambda x: x.point[1]), "nearest"  # type: ignore[index]
        return QA(f"Which object is {what}?", f"The {o.label}.", "qa_extreme")
    return None
