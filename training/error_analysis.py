"""Where a checkpoint's held-out answers go wrong: a breakdown of ``training.evaluate``'s ``questions.jsonl``.

    python -m training.error_analysis --questions DIR/questions.jsonl [--handle-px 20]

Each question's scene is rendered again (the same seeds and camera as the evaluation) and the report (one JSON
object) gives:

* ``right``: questions answered right per kind (a pointing question is right when its F1 is 1);
* ``point_none_for_present``: "There are none." for a single object that is there;
* ``point_all_stopped_early``: point-all answers with fewer points than objects;
* ``count_by_objects``: counting answers as {objects there: {points given: questions}};
* ``wrong_points``: every point that is not on an asked-for object, by what it hit (the table, an object of the
  asked kind in another colour, of the asked colour and another kind, or neither);
* ``kind_confusions``: (asked kind, kind of the object hit, points), most frequent first;
* ``mug_handles``: how many pixels of each visible mug's handle the camera sees (the handle is the only part
  that tells a mug from a cup), and for points on a mug asked as a cup whether its handle was visible.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from molmo_ros.sim.catalogue import KINDS, MUG_HANDLE_PRIMITIVES
from training.data.scenes import ObjectTruth, RenderConfig, RenderedScene, SceneRenderer
from training.evaluate import eval_render_config

__all__ = ["analyse", "asked_label", "hit_object", "main", "render_scenes"]

_PLURALS = {kind + "s": kind for kind in KINDS}


def asked_label(question: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(colour, kind) a question asks for; None where it names none (``"all the cups"``: colour None)."""
    words = str(question["query"]).split()
    last = words[-1] if words else ""
    kind = _PLURALS.get(last, last if last in KINDS else None)
    colour = words[-2] if question["kind"] in ("point", "absent") and len(words) >= 2 else None
    return colour, kind


def hit_object(scene: RenderedScene, x: float, y: float) -> ObjectTruth | None:
    """The object whose mask holds pixel (x, y) (px, clipped to the image), or None for the table."""
    col = int(np.clip(round(x), 0, scene.width - 1))
    row = int(np.clip(round(y), 0, scene.height - 1))
    k = int(scene.index_mask[row, col])
    return scene.objects[k - 1] if k > 0 else None


def _handle_pixels(renderer: SceneRenderer) -> dict[str, int]:
    """{mug name: pixels of its handle in view} for the renderer's current scene (geom-level segmentation)."""
    import mujoco

    sim = renderer.sim
    frame = sim.render(rgb=False, depth=False, segmentation=True)
    assert frame.segmentation is not None
    out = {}
    for obj in sim.layout.objects:
        if obj.kind != "mug":
            continue
        n = len(obj.shape.primitives)
        ids = [
            mujoco.mj_name2id(sim.model, mujoco.mjtObj.mjOBJ_GEOM, f"{obj.name}_{part}{k}")
            for k in range(n - MUG_HANDLE_PRIMITIVES, n)
            for part in ("visual", "collision")
        ]
        out[obj.name] = int(np.isin(frame.segmentation, ids).sum())
    return out


def render_scenes(
    seeds: Iterable[int], render: RenderConfig
) -> tuple[dict[int, RenderedScene], dict[int, dict[str, int]]]:
    """The evaluation's view of every seed and, per seed, {mug name: handle pixels}."""
    scenes: dict[int, RenderedScene] = {}
    handles: dict[int, dict[str, int]] = {}
    with SceneRenderer(render) as renderer:
        for seed in sorted(set(seeds)):
            scenes[seed] = next(renderer.scene(seed, views=1))
            handles[seed] = _handle_pixels(renderer)
    return scenes, handles


def _is_right(question: Mapping[str, Any]) -> bool:
    if question["kind"] == "count":
        return bool(question["correct"])
    return float(question["score"].get("f1", 0.0)) == 1.0


def analyse(
    questions: Sequence[Mapping[str, Any]],
    scenes: Mapping[int, RenderedScene],
    handles: Mapping[int, Mapping[str, int]],
    handle_px: int = 20,
) -> dict[str, Any]:
    """The breakdown described in the module docstring. ``handle_px``: fewer handle pixels than this counts as
    a handle the camera does not show."""
    right: Counter[str] = Counter()
    asked: Counter[str] = Counter()
    counts: dict[int, Counter[int]] = {}
    wrong: Counter[str] = Counter()
    kinds: Counter[tuple[str, str]] = Counter()
    mug_as_cup: Counter[str] = Counter()
    none_for_present = early = 0
    for q in questions:
        scene = scenes[int(q["seed"])]
        wanted = set(q["object_names"])
        asked[q["kind"]] += 1
        right[q["kind"]] += _is_right(q)
        n_objects, n_points = len(wanted), len(q["points"])
        if q["kind"] == "count":
            counts.setdefault(n_objects, Counter())[n_points] += 1
        elif q["kind"] == "point" and n_points == 0:
            none_for_present += 1
        elif q["kind"] == "point_all" and n_points < n_objects:
            early += 1
        colour, kind = asked_label(q)
        for x, y in q["points"]:
            hit = hit_object(scene, x, y)
            if hit is not None and hit.name in wanted:
                continue
            if hit is None:
                wrong["table"] += 1
                continue
            same_kind, same_colour = hit.kind == kind, colour is not None and hit.colour == colour
            wrong[
                "same kind, other colour"
                if same_kind
                else "same colour, other kind"
                if same_colour
                else "other kind and colour"
            ] += 1
            if kind is not None and not same_kind:
                kinds[(kind, hit.kind)] += 1
            if kind == "cup" and hit.kind == "mug":
                shown = handles[int(q["seed"])].get(hit.name, 0) >= handle_px
                mug_as_cup["handle shown" if shown else "handle not shown"] += 1
    handle_counts = np.array(
        [px for seed in scenes for name, px in handles[seed].items() if _visible(scenes[seed], name)]
    )
    return {
        "questions": len(questions),
        "right": {k: f"{right[k]}/{asked[k]}" for k in sorted(asked)},
        "point_none_for_present": none_for_present,
        "point_all_stopped_early": f"{early}/{asked['point_all']}",
        "count_by_objects": {n: dict(sorted(c.items())) for n, c in sorted(counts.items())},
        "wrong_points": dict(wrong.most_common()),
        "kind_confusions": [[a, b, n] for (a, b), n in kinds.most_common()],
        "mug_handles": {
            "mugs": int(handle_counts.size),
            "handle_px_quartiles": np.percentile(handle_counts, [25, 50, 75]).tolist()
            if handle_counts.size
            else [],
            f"handle_under_{handle_px}_px": int((handle_counts < handle_px).sum()),
            "cup_questions_pointing_at_a_mug": dict(mug_as_cup),
        },
    }


def _visible(scene: RenderedScene, name: str) -> bool:
    return any(o.name == name and o.visible for o in scene.objects)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Break down a held-out evaluation's wrong answers.")
    parser.add_argument(
        "--questions", required=True, help="questions.jsonl written by training.evaluate --out"
    )
    parser.add_argument("--handle-px", type=int, default=20, help="fewer mug handle pixels: not shown")
    parser.add_argument("--width", type=int, default=0, help="image width, px (0: config/sim.yaml)")
    parser.add_argument("--height", type=int, default=0, help="image height, px (0: config/sim.yaml)")
    args = parser.parse_args(argv)
    path = Path(args.questions)
    if not path.is_file():
        parser.error(f"{path} is not a file (training.evaluate --out DIR writes DIR/questions.jsonl)")
    questions = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    scenes, handles = render_scenes(
        (int(q["seed"]) for q in questions), eval_render_config(args.width, args.height)
    )
    json.dump(analyse(questions, scenes, handles, args.handle_px), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
