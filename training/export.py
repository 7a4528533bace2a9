"""Export a trained checkpoint as a self-contained ``save_pretrained`` directory with a model card.

    python -m training.export --run out/training/stage2_place --out molmo_ros/checkpoints/molmo2-tiny-sim
        [--stage1 out/training/stage1] [--stage2 out/training/stage2 out/training/stage2_polish]
        [--eval-seeds 1000000:1000200] [--dtype float32]

``--run`` is the last run (its ``final/`` is exported); when it is a later pass of stage 2
(``configs/stage2_polish.yaml``, ``configs/stage2_place.yaml``), ``--stage2`` names the passes before it in
order, for the card and the curves.

The directory holds ``config.json``, ``generation_config.json``, ``model.safetensors`` (embedding stored in the
released Molmo2 split), the processor and tokenizer files, ``train_config.yaml`` (the stage-2 run's
configuration), ``training_curves/`` (every run's log and curves), and ``README.md``, a model card with the
data, the recipe and the evaluation figures. With ``--eval-seeds`` the held-out evaluation
(:mod:`training.evaluate`) runs on the exported directory and its ``eval.json`` and plots go next to it.
The node loads it unchanged: ``load_point_model("transformers", OUT)``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.molmo2 import fix_embedding_split

__all__ = ["export", "main", "model_card"]

_COPY = (
    "config.json",
    "generation_config.json",
    "processor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "train_config.yaml",
)
# Stage 2's passes, first pass first, as the configs name them: (curve file name, card row).
STAGE2_PASSES = (
    ("stage2", "2: pointing mixture"),
    ("stage2_polish", "2, second pass"),
    ("stage2_place", "2, third pass"),
)


def _run_summary(run: Path) -> dict[str, Any]:
    """Steps, time, last losses and the picture control of a run, from its ``log.jsonl``."""
    log = run / "log.jsonl"
    if not log.is_file():
        return {}
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    train = [r for r in records if r.get("event") == "train"]
    evals = [r for r in records if r.get("event") == "eval"]
    start = next((r for r in records if r.get("event") == "start"), {})
    seconds, previous = 0.0, start.get("start_step", 0)
    for r in train:  # each log line covers the steps since the previous one
        seconds += r["sec_per_step"] * (r["step"] - previous)
        previous = r["step"]
    return {
        "steps": train[-1]["step"] if train else 0,
        "train_seconds": round(seconds, 1),
        "final_train_loss": train[-1]["loss"] if train else None,
        "parameters": start.get("parameters"),
        "train_rows": start.get("train_rows"),
        "evals": [
            {
                k: (round(v, 4) if isinstance(v, float) else v)
                for k, v in r.items()
                if k not in ("time", "event")
            }
            for r in evals
        ],
    }


def model_sizes(model_dir: Path) -> dict[str, Any]:
    """The sizes the model card reports, read from the exported checkpoint's files
    (:func:`training.molmo2.read_sizes.checkpoint_sizes`)."""
    from dataclasses import asdict

    from training.molmo2 import Molmo2Sizes
    from training.molmo2.read_sizes import checkpoint_sizes

    sizes = asdict(checkpoint_sizes(model_dir, Molmo2Sizes()))
    shown = (
        "text_layers",
        "text_hidden_size",
        "vision_layers",
        "vision_hidden_size",
        "patch_size",
        "crop_size",
    )
    facts = ("max_crops", "coordinate_tokens", "answer_tokens", "answer_tag_tokens", "question_first")
    return {**{k: sizes[k] for k in shown + facts}, "image_pooling": list(sizes["image_pooling"])}


def model_card(
    sizes: dict[str, Any],
    stage1: dict[str, Any],
    stage2: dict[str, Any],
    evaluation: dict[str, Any] | None,
    later_passes: Sequence[dict[str, Any]] = (),
) -> str:
    """The README.md of an exported checkpoint; ``sizes`` as :func:`model_sizes` returns them, the runs as
    :func:`_run_summary` does (``later_passes``: stage 2's second, third ... passes, in order)."""
    from training.molmo2 import POINT_TAG_TOKENS

    params = (stage2.get("parameters") or stage1.get("parameters") or {}).get("total")
    pooling = sizes.get("image_pooling") or [1, 1]
    tag_pieces = ", ".join(f"`{t}`" for t in POINT_TAG_TOKENS)
    grid = (
        int(sizes.get("crop_size", 0)) // max(1, int(sizes.get("patch_size", 1))) // max(1, int(pooling[0]))
    )
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: image-text-to-text",
        "tags: [molmo2, pointing, robotics, synthetic-data]",
        "---",
        "# molmo2-tiny-sim",
        "",
        "A `Molmo2ForConditionalGeneration` trained from scratch by molmo_ros's `training/` on pictures of its own",
        'MuJoCo tabletop simulator. It answers in Molmo2\'s formats (`<points alt="red cup" coords="1 1 512 430">',
        "red cup</points>`, `Counting the <points ...>cups</points> shows a total of 2.`, `There are none.`) and",
        "is the default model of the molmo_ros point node. It only knows the simulator's objects (blocks, balls,",
        "cans, cups, mugs, bowls in ten colours) seen from the simulator's camera.",
        "",
        "## Model",
        f"- {params:,} parameters" if isinstance(params, int) else "- parameters: see config.json",
        f"- language model: {sizes.get('text_layers')} layers, hidden {sizes.get('text_hidden_size')}; "
        f"ViT: {sizes.get('vision_layers')} layers, hidden {sizes.get('vision_hidden_size')}, "
        f"{sizes.get('patch_size')} px patches on {sizes.get('crop_size')} px crops (max {sizes.get('max_crops')} "
        f"crop + the global view), {sizes.get('image_pooling')} pooling",
        f"- image tokens: a grid of {grid} x {grid} per view (the global view and one crop), each token "
        f"{640 // max(grid, 1)} x {480 // max(grid, 1)} px of a 640 x 480 camera picture; a simulator object "
        "(20-70 px across) touches 2-3 tokens (median 2) and covers about a third of one",
        "- tokenizer: byte-level BPE trained on the training text, digits split one per token, "
        + (
            "one token per coordinate value 000-1000 (the text is unchanged), "
            if sizes.get("coordinate_tokens")
            else ""
        )
        + (
            f'coordinates and object ids with their leading space (" 073", " 2") and the tag\'s fixed pieces '
            f"({tag_pieces}) as single tokens (12 tokens for a one-point answer), "
            if sizes.get("answer_tokens")
            else ""
        )
        + (
            f"the tag's fixed pieces ({tag_pieces}) as single tokens (15 tokens for a one-point answer), "
            if sizes.get("answer_tag_tokens")
            else ""
        )
        + "Molmo2 special tokens",
        "- chat template: "
        + (
            "the question, then the picture (so the image tokens can read the question)"
            if sizes.get("question_first")
            else "the picture, then the question (as the released Molmo2 checkpoints)"
        ),
        "",
        "## Data",
        "Rendered by `python -m training.data.build` from simulator seeds in the training range [0, 1000000);",
        "each scene is shown in several arrangements of its objects. Stage 1: dense captions (objects, counts,",
        "colours, positions, relations). Stage 2: point to one object, to all of a kind or colour, count with points,",
        "absent objects (`There are none.`), short questions (colour, yes/no, left of, leftmost / nearest).",
        "",
        "## Recipe (Molmo's two stages)",
        "All parameters train in both stages; AdamW with separate peak learning rates for the ViT, the connector and",
        "the language model, linear warmup then cosine decay; loss on answer tokens only; stage 2 starts from the",
        "stage-1 checkpoint"
        + (
            "; later passes of stage 2 (`configs/stage2_polish.yaml`, `configs/stage2_place.yaml`) re-warm to"
            " lower learning rates and change the mixture"
            if later_passes
            else ""
        )
        + ". Commands and configurations: `training/README.md`, `train_config.yaml` here.",
        "",
        "| stage | steps | rows | final train loss | wall time (s) |",
        "|---|---|---|---|---|",
    ]
    passes = [stage2, *later_passes]
    runs = [("1: captions", stage1), *zip((row for _, row in STAGE2_PASSES), passes, strict=False)]
    for name, run in runs:
        if run:
            lines.append(
                f"| {name} | {run.get('steps')} | {run.get('train_rows')} | {run.get('final_train_loss')} | "
                f"{run.get('train_seconds')} |"
            )
    lines += [
        "",
        "Shuffled-picture control (stage 2, coordinate-digit loss with the right vs rotated pictures):",
        "",
    ]
    for e in stage2.get("evals", []):
        if "control_digit_loss_right" in e:
            lines.append(
                f"- step {e['step']}: right {e['control_digit_loss_right']}, "
                f"shuffled {e['control_digit_loss_shuffled']}"
            )
    lines += ["", "## Evaluation (held-out seeds, through the point node's backend)", ""]
    if evaluation:
        lines += [
            f"Seeds {evaluation.get('seeds')}, {evaluation.get('n_questions')} questions, "
            f"images {evaluation.get('image_size')} px:",
            "",
            "| metric | value |",
            "|---|---|",
        ]
        for key in (
            "pointing_precision",
            "pointing_recall",
            "pointing_f1",
            "counting_accuracy",
            "median_point_error_px",
            "parse_errors",
            "mean_answer_ms",
        ):
            lines.append(f"| {key} | {evaluation.get(key)} |")
        for kind, figures in (evaluation.get("by_kind") or {}).items():
            value = figures.get("f1", figures.get("accuracy"))
            lines.append(f"| {kind} ({figures.get('n')} questions) | {value} |")
        lines += ["", "![summary](eval_summary.png)", "", "![examples](eval_examples.png)"]
    else:
        lines.append(
            "Not evaluated yet: `python -m training.evaluate --model THIS_DIR --seeds 1000000:1000200`."
        )
    lines += [
        "",
        "## Limits",
        "Synthetic scenes only; not a general-purpose model. Real robots need a real Molmo2",
        "checkpoint (allenai/Molmo2-4B, allenai/Molmo2-8B) through the same node. The project's targets on",
        "held-out seeds are pointing F1 >= 0.90 and counting accuracy >= 0.80 (both stages within 90 minutes on",
        "2 CPU cores); the table above is what this checkpoint reaches, `training/README.md` the curve and the gap.",
        "",
    ]
    return "\n".join(lines)


def export(
    run: str | Path,
    out: str | Path,
    stage1: str | Path | None = None,
    dtype: str = "float32",
    eval_seeds: tuple[int, int] | None = None,
    stage2: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Copy ``run/final`` (a stage's export) to ``out`` in ``dtype``, with logs and a model card; optionally
    evaluate it. ``stage2``: the passes of stage 2 before ``run`` (first pass first) when ``run`` is a later
    pass (at most ``len(STAGE2_PASSES)`` passes in all). Returns the evaluation summary (or an empty dict)."""
    import torch
    from transformers import Molmo2ForConditionalGeneration

    run, out = Path(run), Path(out)
    passes = [*(Path(p) for p in stage2), run]
    if len(passes) > len(STAGE2_PASSES):
        raise ValueError(
            f"{len(passes)} passes of stage 2 given; the export names {len(STAGE2_PASSES)} "
            f"({', '.join(name for name, _ in STAGE2_PASSES)})"
        )
    source = run / "final"
    if not (source / "config.json").is_file():
        raise FileNotFoundError(f"{source} holds no exported model; train first")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model = Molmo2ForConditionalGeneration.from_pretrained(source, dtype=getattr(torch, dtype))
    model.save_pretrained(out)
    fix_embedding_split(out)
    for name in _COPY:
        if (source / name).is_file() and not (out / name).is_file():
            shutil.copy2(source / name, out / name)
    curves = out / "training_curves"
    curves.mkdir()
    runs = {"stage1": Path(stage1) if stage1 else None}
    runs.update(zip((name for name, _ in STAGE2_PASSES), passes, strict=False))
    for name, path in runs.items():
        if path is not None and (path / "log.jsonl").is_file():
            shutil.copy2(path / "log.jsonl", curves / f"{name}_log.jsonl")
            if (path / "curves.png").is_file():
                shutil.copy2(path / "curves.png", curves / f"{name}_curves.png")
    evaluation: dict[str, Any] = {}
    if eval_seeds is not None:
        from molmo_ros.sim import load_sim_config
        from training.data.scenes import RenderConfig
        from training.evaluate import evaluate, write_results

        sim = load_sim_config()
        render = RenderConfig(width=sim.image_width, height=sim.image_height, views_per_scene=1)
        evaluation, questions, scenes = evaluate(str(out), eval_seeds, render, progress=True)
        evaluation["model"] = out.name
        write_results(out, evaluation, questions, scenes)
    s1 = _run_summary(Path(stage1)) if stage1 else {}
    summaries = [_run_summary(path) for path in passes]
    card = model_card(model_sizes(out), s1, summaries[0], evaluation or None, summaries[1:])
    (out / "README.md").write_text(card)
    return evaluation


def main(argv: Sequence[str] | None = None) -> int:
    from training.data.scenes import parse_seed_range

    parser = argparse.ArgumentParser(
        description="Export a trained run as a save_pretrained directory + model card."
    )
    parser.add_argument("--run", required=True, help="the run directory (its final/ is exported)")
    parser.add_argument("--out", required=True, help="output directory (replaced)")
    parser.add_argument("--stage1", default="", help="the stage-1 run directory, for the card and curves")
    parser.add_argument(
        "--stage2",
        nargs="*",
        default=[],
        help="stage 2's passes before --run, first pass first, when --run is a later pass",
    )
    parser.add_argument(
        "--dtype", default="float32", choices=("float32", "bfloat16"), help="stored weight dtype"
    )
    parser.add_argument(
        "--eval-seeds", default="", help="evaluate on these held-out seeds A:B after exporting"
    )
    args = parser.parse_args(argv)
    seeds = parse_seed_range(args.eval_seeds) if args.eval_seeds else None
    evaluation = export(args.run, args.out, args.stage1 or None, args.dtype, seeds, args.stage2)
    print(json.dumps({"out": args.out, **{k: v for k, v in evaluation.items() if k != "by_kind"}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
