"""Evaluate a Molmo2 checkpoint on held-out simulator scenes through the point node's own backend.

    python -m training.evaluate [--model PATH] --seeds 1000000:1000100 [--out DIR] [--json]

For every seed A..B-1 the scene the robot would meet after ``Simulator.reset(seed)`` is rendered at the camera's
configured size (``config/sim.yaml``), and the model (``load_point_model("transformers", PATH)``; default: the
package's bundled checkpoint) is asked, with the prompts the node uses:

* ``point``: "Point to the <colour> <kind>." for every visible object;
* ``point_all``: "Point to all the <kind>s." for a kind with two or more visible objects;
* ``absent``: "Point to the <colour> <kind>." for a pair that is not on the table (correct answer: no points);
* ``count``: "Count the <kind>s." for one kind on the table and one drawn from the catalogue (often absent).

Scoring follows the Molmo papers: per pointing question the predicted points and the ground-truth objects are
matched one to one (Hungarian, cost = distance to the object's target point,
``scipy.optimize.linear_sum_assignment``); a matched point is correct when it lies inside its object's mask.
precision = correct / predicted, recall = correct / objects, F1 their harmonic mean, averaged over questions.
When a side is empty: no objects and no points scores 1 (an absent object correctly not pointed at); one side
empty and the other not scores 0; an answer the parser cannot read scores 0. Counting is correct when the stated total (else the number of points, 0 for
"There are none.") equals the number of objects.

Output: one JSON object (``--json``) with ``pointing_precision``, ``pointing_recall``, ``pointing_f1``,
``counting_accuracy``, ``median_point_error_px``, ``n_questions`` and details; plots in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from molmo_ros.errors import PointOutsideImageError, PointParseError
from molmo_ros.pointing import count_prompt, point_prompt
from molmo_ros.sim.catalogue import COLOURS, KINDS
from training.data.scenes import (
    RenderConfig,
    RenderedScene,
    SceneRenderer,
    check_seed_range,
    parse_seed_range,
)
from training.data.tasks import plural

__all__ = [
    "PointScore",
    "Question",
    "eval_render_config",
    "evaluate",
    "main",
    "score_count",
    "score_points",
    "summarise",
    "write_results",
]


@dataclass(frozen=True)
class PointScore:
    """The score of one pointing question.

    correct: matched predictions inside their object's mask; predicted, objects: list sizes; precision, recall,
    f1: as in the module docstring; errors_px: distance of every matched prediction to its object's target point.
    """

    correct: int
    predicted: int
    objects: int
    precision: float
    recall: float
    f1: float
    errors_px: tuple[float, ...] = ()


def score_points(predicted: np.ndarray, targets: np.ndarray, masks: Sequence[np.ndarray]) -> PointScore:
    """Score predicted points against ground-truth objects.

    Args:
        predicted: (N, 2) predicted points, x (column) and y (row) in pixels, continuous with the origin at the
            image's top-left corner (the parser's convention).
        targets: (M, 2) the objects' target points, pixel centres ``(u, v)`` at integer coordinates.
        masks: M boolean (H, W) masks, one per object.

    Returns:
        The :class:`PointScore` (one-to-one Hungarian matching on the distance to ``targets``).
    """
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1, 2)
    targets = np.asarray(targets, dtype=np.float64).reshape(-1, 2)
    if len(targets) != len(masks):
        raise ValueError(f"{len(targets)} targets but {len(masks)} masks")
    n, m = len(predicted), len(targets)
    if n == 0 or m == 0:
        value = 1.0 if n == m else 0.0
        return PointScore(0, n, m, value, value, value)
    # Continuous coordinates -> the pixel-centre frame of the targets.
    centres = predicted - 0.5
    cost = np.linalg.norm(centres[:, None, :] - targets[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    correct = 0
    errors = []
    for r, c in zip(rows, cols, strict=True):
        mask = masks[c]
        h, w = mask.shape
        col = min(math.floor(predicted[r, 0]), w - 1)
        row = min(math.floor(predicted[r, 1]), h - 1)
        correct += bool(mask[row, col])
        errors.append(float(cost[r, c]))
    precision, recall = correct / n, correct / m
    f1 = 0.0 if correct == 0 else 2 * precision * recall / (precision + recall)
    return PointScore(correct, n, m, precision, recall, f1, tuple(errors))


def score_count(stated: int | None, n_points: int, truth: int) -> bool:
    """A counting answer is right when its stated total (else its number of points) equals ``truth``."""
    return (stated if stated is not None else n_points) == truth


@dataclass
class Question:
    """One evaluation question about one scene and what came of it."""

    seed: int
    kind: str  # point | point_all | absent | count
    query: str
    prompt: str
    object_names: list[str]
    answer: str = ""
    points: list[list[float]] = field(default_factory=list)
    parse_error: str = ""
    correct: bool | None = None  # counting questions
    score: dict[str, Any] = field(default_factory=dict)  # pointing questions


def questions_for(scene: RenderedScene, rng: random.Random) -> list[Question]:
    """The questions asked about one scene (see the module docstring)."""
    out: list[Question] = []
    visible = scene.visible_objects()
    hidden_kinds = {o.kind for o in scene.objects if not o.visible}
    present = {(o.colour, o.kind) for o in scene.objects}
    for o in visible:
        out.append(Question(scene.seed, "point", o.label, point_prompt(o.label), [o.name]))
    kinds = sorted({o.kind for o in visible} - hidden_kinds)
    for kind in kinds:
        group = [o for o in visible if o.kind == kind]
        if len(group) >= 2:
            q = f"all the {plural(kind)}"
            out.append(Question(scene.seed, "point_all", q, point_prompt(q), [o.name for o in group]))
    absent = [(c, k) for c in COLOURS for k in KINDS if (c, k) not in present]
    colour, kind = rng.choice(absent)
    out.append(Question(scene.seed, "absent", f"{colour} {kind}", point_prompt(f"{colour} {kind}"), []))
    count_kinds = [rng.choice(kinds)] if kinds else []
    other = rng.choice(sorted(set(KINDS) - hidden_kinds - set(count_kinds)))
    for kind in [*count_kinds, other]:
        names = [o.name for o in visible if o.kind == kind]
        out.append(Question(scene.seed, "count", plural(kind), count_prompt(plural(kind)), names))
    return out


def ask(model: Any, scene: RenderedScene, question: Question) -> None:
    """Ask ``question`` through the backend and score the answer in place."""
    try:
        answer = model.point(scene.image, question.prompt)
        question.answer = answer.text
        points = answer.parsed.xy()
        stated = answer.parsed.stated_count
    except (PointParseError, PointOutsideImageError) as exc:
        raw = getattr(exc, "model_output", None)
        question.answer = raw.text if raw is not None else ""
        question.parse_error = str(exc).splitlines()[0][:200]
        points, stated = np.zeros((0, 2)), None
    question.points = [[round(float(x), 2), round(float(y), 2)] for x, y in points]
    by_name = {o.name: o for o in scene.objects}
    objects = [by_name[n] for n in question.object_names]
    if question.kind == "count":
        question.correct = score_count(stated, len(points), len(objects))
        return
    if question.parse_error:  # an unreadable answer is wrong, also where nothing is to be pointed at
        question.score = asdict(PointScore(0, 0, len(objects), 0.0, 0.0, 0.0))
        return
    targets = np.array([o.point for o in objects], dtype=np.float64).reshape(-1, 2)
    score = score_points(points, targets, [scene.mask(o) for o in objects])
    question.score = asdict(score)


def summarise(questions: Sequence[Question]) -> dict[str, Any]:
    """The headline figures over all questions (means of per-question scores)."""
    pointing = [q for q in questions if q.kind != "count"]
    counting = [q for q in questions if q.kind == "count"]
    errors = [e for q in pointing for e in q.score.get("errors_px", ())]

    def mean(values: list[float]) -> float:
        return float(np.mean(values)) if values else float("nan")

    by_kind = {}
    for kind in ("point", "point_all", "absent"):
        group = [q for q in pointing if q.kind == kind]
        if group:
            by_kind[kind] = {"n": len(group), "f1": round(mean([q.score["f1"] for q in group]), 4)}
    if counting:
        by_kind["count"] = {
            "n": len(counting),
            "accuracy": round(mean([float(bool(q.correct)) for q in counting]), 4),
        }
    return {
        "pointing_precision": round(mean([q.score["precision"] for q in pointing]), 4),
        "pointing_recall": round(mean([q.score["recall"] for q in pointing]), 4),
        "pointing_f1": round(mean([q.score["f1"] for q in pointing]), 4),
        "counting_accuracy": round(mean([float(bool(q.correct)) for q in counting]), 4),
        "median_point_error_px": round(float(np.median(errors)), 2) if errors else None,
        "n_questions": len(questions),
        "n_pointing": len(pointing),
        "n_counting": len(counting),
        "parse_errors": sum(1 for q in questions if q.parse_error),
        "by_kind": by_kind,
    }


def evaluate(
    model_path: str,
    seeds: tuple[int, int],
    render: RenderConfig,
    progress: bool = True,
    allow_training_seeds: bool = False,
    device: str = "cpu",
) -> tuple[dict[str, Any], list[Question], list[RenderedScene]]:
    """Render the scenes of ``seeds``, ask every question, score; the model runs on ``device`` ("cpu",
    "cuda"). Returns (summary, questions, scenes)."""
    from tqdm import tqdm

    from molmo_ros.models import load_point_model

    if not allow_training_seeds:
        check_seed_range(seeds, "eval")
    model = load_point_model("transformers", model_path, device=device)
    questions: list[Question] = []
    scenes: list[RenderedScene] = []
    start = time.perf_counter()
    model_ms: list[float] = []
    with SceneRenderer(render) as renderer:
        for seed in tqdm(
            range(*seeds), desc="evaluating", unit="scene", disable=not progress, file=sys.stderr
        ):
            scene = next(renderer.scene(seed, views=1))
            scenes.append(scene)
            for q in questions_for(scene, random.Random(f"eval/{seed}")):
                t = time.perf_counter()
                ask(model, scene, q)
                model_ms.append((time.perf_counter() - t) * 1000)
                questions.append(q)
    summary = summarise(questions)
    summary.update(
        model=str(model.name),
        seeds=f"{seeds[0]}:{seeds[1]}",
        image_size=[render.width, render.height],
        mean_answer_ms=round(float(np.mean(model_ms)), 1) if model_ms else None,
        seconds=round(time.perf_counter() - start, 1),
    )
    model.close()
    return summary, questions, scenes


def plot(
    out: Path, summary: dict[str, Any], questions: list[Question], scenes: list[RenderedScene]
) -> list[str]:
    """Write the evaluation plots into ``out``; returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    files = []
    errors = [e for q in questions for e in q.score.get("errors_px", ())]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    if errors:
        axes[0].hist(errors, bins=30, color="tab:blue")
    axes[0].set_xlabel("distance of a matched point to the object's target point (px)")
    axes[0].set_ylabel("points")
    axes[0].set_title(f"median {summary.get('median_point_error_px')} px")
    names, values = [], []
    for kind, entry in summary["by_kind"].items():
        names.append(f"{kind}\n(n={entry['n']})")
        values.append(entry.get("f1", entry.get("accuracy", 0.0)))
    axes[1].bar(names, values, color=["tab:green", "tab:olive", "tab:gray", "tab:orange"][: len(names)])
    axes[1].set_ylim(0, 1)
    axes[1].set_ylabel("F1 (pointing) / accuracy (count)")
    fig.tight_layout()
    fig.savefig(out / "eval_summary.png", dpi=100)
    plt.close(fig)
    files.append("eval_summary.png")

    shown = scenes[:6]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.4))
    for ax, scene in zip(axes.ravel(), shown, strict=False):
        ax.imshow(scene.image)
        for q in (q for q in questions if q.seed == scene.seed and q.kind == "point"):
            obj = next(o for o in scene.objects if o.name == q.object_names[0])
            ax.plot(obj.point[0], obj.point[1], "w+", ms=8)  # type: ignore[index]
            for x, y in q.points:
                ok = q.score.get("correct", 0) > 0
                ax.plot(x, y, "o", ms=5, mfc="lime" if ok else "red", mec="black")
        ax.set_title(f"seed {scene.seed}", fontsize=9)
        ax.axis("off")
    for ax in axes.ravel()[len(shown) :]:
        ax.axis("off")
    fig.suptitle("'Point to the <object>.': green = inside the object, red = outside, + = target")
    fig.tight_layout()
    fig.savefig(out / "eval_examples.png", dpi=80)
    plt.close(fig)
    files.append("eval_examples.png")
    return files


def write_results(
    out: Path, summary: dict[str, Any], questions: Sequence[Question], scenes: Sequence[RenderedScene]
) -> None:
    """Plots, ``questions.jsonl`` (one scored question a line) and ``eval.json`` (``summary`` with the plots'
    names added) into ``out``."""
    summary["plots"] = plot(out, summary, questions, scenes)
    with (out / "questions.jsonl").open("w") as handle:
        for q in questions:
            handle.write(json.dumps(asdict(q)) + "\n")
    (out / "eval.json").write_text(json.dumps(summary, indent=2) + "\n")


def eval_render_config(width: int = 0, height: int = 0) -> RenderConfig:
    """The evaluation's rendering: one view per seed at ``width`` x ``height`` px (0: the camera's size in
    ``config/sim.yaml``)."""
    from molmo_ros.sim import load_sim_config

    sim = load_sim_config()
    return RenderConfig(width=width or sim.image_width, height=height or sim.image_height, views_per_scene=1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Evaluate pointing and counting on held-out simulator scenes."
    )
    parser.add_argument(
        "--model", default="default", help="checkpoint directory (default: the bundled model)"
    )
    parser.add_argument("--seeds", required=True, help="held-out seed range A:B (A >= 1000000)")
    parser.add_argument("--out", default="", help="directory for plots, questions.jsonl and eval.json")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument("--width", type=int, default=0, help="image width, px (0: config/sim.yaml)")
    parser.add_argument("--height", type=int, default=0, help="image height, px (0: config/sim.yaml)")
    parser.add_argument(
        "--allow-training-seeds", action="store_true", help="allow seeds of the training range"
    )
    parser.add_argument("--device", default="cpu", help="torch device the model runs on (cpu, cuda)")
    args = parser.parse_args(argv)
    render = eval_render_config(args.width, args.height)
    try:
        seeds = parse_seed_range(args.seeds)
        summary, questions, scenes = evaluate(
            args.model,
            seeds,
            render,
            progress=not args.json,
            allow_training_seeds=args.allow_training_seeds,
            device=args.device,
        )
    except ValueError as exc:
        parser.error(str(exc))
    if args.out:
        write_results(Path(args.out), summary, questions, scenes)
    if args.json:
        print(json.dumps(summary))
    else:
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
