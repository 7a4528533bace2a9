"""Render seeded scenes into the two training sets, in the Hugging Face ``datasets`` format.

    python -m training.data.build --seeds 0:800 --out out/training/data [--views 8] [--workers 2] [--layout sort]

writes ``OUT/caption`` (stage 1) and ``OUT/mixture`` (stage 2), each a ``Dataset.save_to_disk`` directory with
one row per rendered view:

==========  ==================================================================================================
image       the camera picture (``datasets.Image``, PNG)
mask        object index mask (``datasets.Image``, 8-bit PNG): 0 background, k = ``objects[k-1]``
prompts     the questions about the picture (list of strings)
answers     their answers, same length (list of strings)
styles      the task of each question (``caption``, ``point``, ``count``, ``absent`` ...)
seed, view  scene seed and arrangement (see :mod:`training.data.scenes`)
objects     ground truth as JSON: name, kind, colour, index, point (u, v px), pixels, visible
==========  ==================================================================================================

Everything is a function of the seed: the same seed range gives the same rows, whatever the number of workers.
Training seeds must lie in :data:`training.data.scenes.TRAIN_SEEDS`.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from training.data.scenes import (
    RenderConfig,
    RenderedScene,
    SceneRenderer,
    check_seed_range,
    parse_seed_range,
)
from training.data.tasks import caption, mixture

__all__ = ["BuildConfig", "build", "features", "scene_rows"]

CAPTION_DIR = "caption"
MIXTURE_DIR = "mixture"


@dataclass(frozen=True)
class BuildConfig:
    """What to render and how many questions to write per view."""

    seeds: tuple[int, int] = (0, 800)  # half-open scene seed range
    render: RenderConfig = field(default_factory=RenderConfig)  # image size, views per scene, visibility
    captions_per_view: int = 1  # stage-1 captions per view
    questions_per_view: int = 8  # stage-2 questions per view (the loader samples a few turns per example)
    workers: int = 1  # rendering processes (each owns a renderer)


def features() -> Any:
    """The ``datasets.Features`` of both sets."""
    import datasets

    return datasets.Features(
        {
            "image": datasets.Image(),
            "mask": datasets.Image(),
            "prompts": datasets.Sequence(datasets.Value("string")),
            "answers": datasets.Sequence(datasets.Value("string")),
            "styles": datasets.Sequence(datasets.Value("string")),
            "seed": datasets.Value("int64"),
            "view": datasets.Value("int32"),
            "objects": datasets.Value("string"),
        }
    )


def _png(array: np.ndarray) -> dict[str, Any]:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=6)
    return {"bytes": buffer.getvalue(), "path": None}


def scene_rows(scene: RenderedScene, config: BuildConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The caption row and the mixture row of one rendered view (text drawn from ``(seed, view)`` only)."""
    base = {
        "image": _png(scene.image),
        "mask": _png(scene.index_mask),
        "seed": scene.seed,
        "view": scene.view,
        "objects": json.dumps([o.to_dict() for o in scene.objects]),
    }
    rng = random.Random(f"caption/{scene.seed}/{scene.view}")
    captions = [caption(scene, rng) for _ in range(config.captions_per_view)]
    rng = random.Random(f"mixture/{scene.seed}/{scene.view}")
    questions = mixture(scene, rng, config.questions_per_view)
    rows = []
    for qas in (captions, questions):
        rows.append(
            dict(
                base,
                prompts=[q.prompt for q in qas],
                answers=[q.answer for q in qas],
                styles=[q.style for q in qas],
            )
        )
    return rows[0], rows[1]


def _render_seeds(args: tuple[Sequence[int], BuildConfig]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    seeds, config = args
    out = []
    with SceneRenderer(config.render) as renderer:
        for seed in seeds:
            for scene in renderer.scene(seed):
                out.append(scene_rows(scene, config))
    return out


def _chunks(start: int, end: int, size: int) -> Iterator[list[int]]:
    for s in range(start, end, size):
        yield list(range(s, min(end, s + size)))


def build(out_dir: str | Path, config: BuildConfig, progress: bool = True) -> dict[str, Any]:
    """Render ``config.seeds`` and write ``out_dir/caption`` and ``out_dir/mixture``.

    Returns:
        A summary: rows, seconds, paths, the configuration.
    """
    import datasets
    from tqdm import tqdm

    check_seed_range(config.seeds, "train")
    start_time = time.perf_counter()
    start, end = config.seeds
    jobs = [(chunk, config) for chunk in _chunks(start, end, 8)]
    caption_rows: list[dict[str, Any]] = []
    mixture_rows: list[dict[str, Any]] = []
    bar = tqdm(total=end - start, unit="scene", desc="rendering", disable=not progress)
    if config.workers > 1:
        # Spawned workers: each creates its own OpenGL context; results come back in seed order.
        with multiprocessing.get_context("spawn").Pool(config.workers) as pool:
            for rows, (chunk, _) in zip(pool.imap(_render_seeds, jobs), jobs, strict=True):
                caption_rows += [r[0] for r in rows]
                mixture_rows += [r[1] for r in rows]
                bar.update(len(chunk))
    else:
        for job in jobs:
            rows = _render_seeds(job)
            caption_rows += [r[0] for r in rows]
            mixture_rows += [r[1] for r in rows]
            bar.update(len(job[0]))
    bar.close()
    out = Path(out_dir)
    paths = {}
    for name, rows in ((CAPTION_DIR, caption_rows), (MIXTURE_DIR, mixture_rows)):
        dataset = datasets.Dataset.from_list(rows, features=features())
        dataset.save_to_disk(str(out / name))
        paths[name] = str(out / name)
    summary = {
        "rows": len(caption_rows),
        "seconds": round(time.perf_counter() - start_time, 1),
        "paths": paths,
        "config": asdict(config),
    }
    (out / "build.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the synthetic PixMo-like training sets.")
    parser.add_argument("--seeds", default="0:800", help="half-open scene seed range A:B (training range)")
    parser.add_argument("--out", default="out/training/data", help="output directory")
    parser.add_argument(
        "--views", type=int, default=RenderConfig.views_per_scene, help="arrangements per scene"
    )
    parser.add_argument("--width", type=int, default=RenderConfig.width, help="image width, px")
    parser.add_argument("--height", type=int, default=RenderConfig.height, help="image height, px")
    parser.add_argument(
        "--questions", type=int, default=BuildConfig.questions_per_view, help="stage-2 questions per view"
    )
    parser.add_argument("--workers", type=int, default=1, help="rendering processes")
    parser.add_argument(
        "--layout", default="", help="what the scenes hold: mixed, place or sort (default: config/sim.yaml's)"
    )
    args = parser.parse_args(argv)
    render = RenderConfig(
        width=args.width, height=args.height, views_per_scene=args.views, layout=args.layout
    )
    config = BuildConfig(
        seeds=parse_seed_range(args.seeds),
        render=render,
        questions_per_view=args.questions,
        workers=args.workers,
    )
    print(json.dumps(build(args.out, config)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
