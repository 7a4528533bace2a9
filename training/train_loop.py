"""The one training loop both stages share (Molmo's recipe at any size).

* All parameters train; AdamW with three peak learning rates (vision encoder, connector, language model), linear
  warmup then cosine decay to ``min_lr_ratio`` of the peak; gradient clipping; loss on answer tokens only.
* Deterministic: seeds for torch and the data order (:mod:`training.batching`); a resumed run continues with the
  same batches, learning rates and optimizer state (``out_dir/checkpoints/step_N``, the newest is resumed).
* ``torchrun --nproc_per_node N python -m training.stage2_pointing ...``: with ``WORLD_SIZE`` set, the loop joins
  the process group (gloo on CPU, nccl on GPU) and wraps the model in DDP, or shards it with FSDP
  (``parallel: fsdp``); each rank takes its own slice of every global batch.
* Every ``eval_every`` steps: held-out answer loss, and the *shuffled-picture control*: the loss of pointing and
  counting answers with the right pictures and with the pictures of the batch rotated by one. If the two do not
  separate, the model is not using the picture (see ``training/README.md``).
* Optional training-only auxiliary losses (``aux:``, :class:`training.config.AuxConfig`, :class:`AuxHeads`): dense
  colour / kind targets on the ViT patches and image tokens from the rendered masks (our stand-in for a pretrained
  vision encoder), attention / pointer / coordinate guidance at the coordinate digits. Their heads are not exported.

Outputs in ``out_dir``: ``log.jsonl`` (one JSON object per log line / evaluation), ``checkpoints/step_N`` (model,
processor, optimizer, ``train_config.yaml``), ``final/`` (the exported model, :mod:`training.export`) and
``curves.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from molmo_ros.models.shared_crops import share_identical_crops
from training.aux_heads import AuxHeads, weighted_aux_loss
from training.batching import BatchSource, digit_token_ids
from training.checkpoint import (
    CHECKPOINTS,
    CONFIG_FILE,
    latest_checkpoint,
    load_training_state,
    save_checkpoint,
)
from training.config import TrainConfig, load_config, save_config
from training.coords import coordinate_token_ids, soft_coordinate_targets
from training.data.loaders import load_rows
from training.debug import debug_config, debug_data
from training.distributed import Dist, full_state_dict, wrap
from training.metrics import answer_loss, evaluate_losses, grad_norms, plot_curves, to_device
from training.model import build_new_checkpoint, count_parameters, learning_rate_schedule, parameter_groups
from training.molmo2.read_sizes import start_sizes
from training.vision_pass import all_reduce_grads, check_vision_only, image_features

__all__ = ["PRECISIONS", "cli_main", "debug_config", "train"]

#: ``TrainConfig.precision`` values: "bf16" runs the training passes under autocast (the matrix products in
#: bfloat16: 0.90-1.02 s a stage-2 step against 1.16 s, training/README.md "R26").
PRECISIONS = ("fp32", "bf16")


# ------------------------------------------------------------------------------------------ model setup


def _corpus(rows: Any, limit: int) -> list[str]:
    """Text for the tokenizer: prompts and answers of the first ``limit`` rows, chat words, and the default
    corpus of point formats (so the tags are few tokens even before any pointing data)."""
    from training.molmo2 import default_corpus

    lines = ["user", "assistant", "<|im_start|>user\n", "<|im_start|>assistant\n"]
    text_rows = rows.select_columns(["prompts", "answers"]).select(range(min(limit, len(rows))))
    for row in text_rows:
        lines += list(row["prompts"]) + list(row["answers"])
    return lines + default_corpus()


def split_rows(sets: Sequence[Any], eval_fraction: float) -> tuple[Any, Any]:
    """The training rows and the held-out rows of several datasets: the last `eval_fraction` of each set is
    held out (so every kind of scene is evaluated), the rest concatenated in order."""
    import datasets

    trains, evals = [], []
    for rows in sets:
        n_eval = max(1, int(len(rows) * eval_fraction)) if len(rows) > 1 else 0
        trains.append(rows.select(range(len(rows) - n_eval)))
        evals.append(rows.select(range(len(rows) - n_eval, len(rows))))
    if len(sets) == 1:
        return trains[0], evals[0]
    return datasets.concatenate_datasets(trains), datasets.concatenate_datasets(evals)


def _prepare_model(cfg: TrainConfig, rows: Any, dist: Dist, out: Path) -> tuple[Path, dict[str, Any]]:
    """The directory the model starts from: the newest checkpoint (resume), ``model.init_from``, or a new model
    built in ``out/init`` (by rank 0)."""
    latest = latest_checkpoint(out)
    if latest is not None:
        return latest, {"resumed_from": str(latest)}
    if cfg.model.init_from:
        return Path(cfg.model.init_from), {"init_from": cfg.model.init_from}
    init_dir = out / "init"
    report: dict[str, Any] = {}
    if dist.main:
        report = build_new_checkpoint(init_dir, cfg.model, _corpus(rows, cfg.model.tokenizer_corpus_rows))
    dist.barrier()
    return init_dir, report


# ------------------------------------------------------------------------------------------ the loop


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or resume) the training described by ``cfg``; returns a summary (also the last line of the log)."""
    from tqdm import tqdm
    from transformers import AutoProcessor, Molmo2ForConditionalGeneration

    from training.molmo2 import fix_embedding_split

    check_vision_only(cfg)
    if cfg.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {cfg.precision!r}")
    dist = Dist()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
        if cfg.debug:  # a debug run always starts afresh (the rendered debug data is kept)
            for name in (CHECKPOINTS, "init", "final", "log.jsonl"):
                shutil.rmtree(out / name, ignore_errors=True) if name != "log.jsonl" else (out / name).unlink(
                    missing_ok=True
                )
    dist.barrier()
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    data_path = debug_data(cfg, out) if cfg.debug and not Path(cfg.data.train).exists() else cfg.data.train
    more = cfg.data.more_train if data_path == cfg.data.train else ()  # the debug set stands alone
    train_rows, eval_rows = split_rows(
        [load_rows(p, cfg.data.format) for p in (data_path, *more)], cfg.data.eval_fraction
    )

    start_dir, init_report = _prepare_model(cfg, train_rows, dist, out)
    sizes, ignored = start_sizes(start_dir, cfg.model.sizes)  # saved configs describe the model beside them
    cfg = replace(cfg, model=replace(cfg.model, sizes=sizes))
    init_report = {**init_report, **({"sizes_ignored": ignored} if ignored else {})}
    model = Molmo2ForConditionalGeneration.from_pretrained(start_dir, dtype=torch.float32).to(dist.device)
    share_identical_crops(model.model.vision_tower)
    processor = AutoProcessor.from_pretrained(start_dir)
    model.train()
    counts = count_parameters(model)
    wrapped = wrap(model, cfg, dist)

    o, a = cfg.optim, cfg.aux
    lrs = {"vit": o.lr_vit, "connector": o.lr_connector, "llm": o.lr_llm}
    groups = parameter_groups(model, lrs, o.weight_decay)
    aux, aux_groups = AuxHeads.for_training(model, a, cfg.seed, dist.device)
    groups += aux_groups
    optimizer = torch.optim.AdamW(groups, lr=o.lr_llm, betas=o.betas, eps=o.eps, fused=False)
    start_step = load_training_state(start_dir, wrapped, optimizer, cfg, dist, aux)
    schedule = learning_rate_schedule(optimizer, o.warmup_steps, cfg.steps, o.min_lr_ratio, start_step)

    source = BatchSource(
        train_rows,
        processor,
        cfg.data.batch_size,
        cfg.data.max_turns,
        cfg.data.max_seq_len,
        cfg.seed,
        dist.world_size,
        dist.rank,
        aux_targets=a.active,
        position_frequencies=cfg.aux.position_frequencies,
        style_weights=cfg.data.style_weights,
        picture_cache_rows=cfg.data.picture_cache_rows,
        next_object=cfg.aux.attention_next,
        order_ranks=a.active_order_ranks,
        object_kinds=a.object_kind_weight > 0,
        questions_per_picture=cfg.data.questions_per_picture,
        picture_store=cfg.data.picture_store,
    )
    eval_source = BatchSource(
        eval_rows, processor, cfg.data.batch_size, cfg.data.max_turns, cfg.data.max_seq_len, cfg.seed + 1
    )
    control_source = BatchSource(
        eval_rows,
        processor,
        cfg.data.batch_size,
        1,
        cfg.data.max_seq_len,
        cfg.seed + 2,
        styles=cfg.data.control_styles,
    )
    n_eval_batches = 2 if cfg.debug else 4
    eval_batches = [eval_source[i] for i in range(n_eval_batches)] if len(eval_rows) else []
    control_batches = []
    if len(eval_rows) and any(s in cfg.data.control_styles for r in eval_rows["styles"] for s in r):
        control_batches = [control_source[i] for i in range(n_eval_batches)]
    digit_ids = torch.tensor(digit_token_ids(processor.tokenizer), dtype=torch.long)
    coordinate_ids = torch.tensor(coordinate_token_ids(processor.tokenizer), dtype=torch.long).to(dist.device)
    soft_targets = (
        soft_coordinate_targets(cfg.coordinate_sigma).to(dist.device) if len(coordinate_ids) else None
    )

    loader = torch.utils.data.DataLoader(
        source,
        batch_size=None,
        sampler=range(start_step, cfg.steps),
        num_workers=cfg.data.num_workers,
        persistent_workers=False,
    )
    log_file = out / "log.jsonl"
    header = {
        "event": "start",
        "stage": cfg.stage,
        "start_step": start_step,
        "world_size": dist.world_size,
        "threads": torch.get_num_threads(),
        "parameters": counts,
        "train_rows": len(train_rows),
        "eval_rows": len(eval_rows),
        "data": data_path,
        **init_report,
    }
    _log(dist, log_file, header)

    def evaluation(step: int) -> dict[str, Any]:
        record = {
            "event": "eval",
            "step": step,
            **evaluate_losses(model, eval_batches, control_batches, digit_ids, dist.device),
        }
        _log(dist, log_file, record)
        return record

    if start_step == 0 and cfg.eval_every > 0:
        evaluation(0)
    bar = tqdm(
        total=cfg.steps,
        initial=start_step,
        desc=cfg.stage,
        disable=not dist.main,
        unit="step",
        file=sys.stderr,
    )
    t0, tokens, window_loss = time.perf_counter(), 0, []
    window_aux: dict[str, list[float]] = {}
    step = start_step
    last_eval: dict[str, Any] = {}
    loop_start = time.perf_counter()
    for step, batch in zip(range(start_step, cfg.steps), loader, strict=False):
        batch = to_device(batch, dist.device)
        inputs = {k: v for k, v in batch.items() if not k.startswith("aux_") and k != "labels"}
        want_hidden = aux is not None and (
            cfg.aux.pointer_weight > 0
            or cfg.aux.coord_weight > 0
            or cfg.aux.relevance_weight > 0
            or cfg.aux.order_weight > 0
        )
        with torch.autocast(dist.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
            if cfg.vision_only:  # the aux heads' hooks keep the picture features; no answer loss
                image_features(model, batch)
                hidden, loss = None, torch.zeros((), device=dist.device)
            else:
                output = wrapped(**inputs, output_hidden_states=want_hidden)
                hidden = output.hidden_states
                loss = answer_loss(
                    output.logits.float(), batch["labels"], coordinate_ids, soft_targets, cfg.decision_weight
                )
            total, aux_parts = loss, {}
            if aux is not None and "aux_colour" in batch:
                ramp = 1.0 + (cfg.aux.end_ratio - 1.0) * step / max(1, cfg.steps - 1)
                aux_loss, aux_parts = weighted_aux_loss(aux, batch, hidden, cfg.aux, ramp)
                total = loss + aux_loss
        for name in aux_parts:
            window_aux.setdefault(name, []).append(aux_parts[name])
        total.backward()
        if aux is not None:
            all_reduce_grads(aux.parameters(), dist.world_size, fill_missing=True)
        if cfg.vision_only:
            all_reduce_grads(model.parameters(), dist.world_size)
        norms = grad_norms(wrapped) if (step + 1) % cfg.log_every == 0 else {}
        if o.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(wrapped.parameters(), o.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        lr_llm = next(g["lr"] for g in optimizer.param_groups if g["component"] == "llm")
        schedule.step()
        window_loss.append(float((total if cfg.vision_only else loss).detach()))
        tokens += int(batch["attention_mask"].sum())
        bar.update(1)
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            elapsed = time.perf_counter() - t0
            mean_loss = dist.mean(float(np.mean(window_loss)))
            record = {
                "event": "train",
                "step": step + 1,
                "loss": round(mean_loss, 5),
                "lr_llm": lr_llm,
                "sec_per_step": round(elapsed / len(window_loss), 4),
                "tokens_per_sec": round(tokens * dist.world_size / elapsed, 1),
                **norms,
                **{k: round(float(np.mean(v)), 5) for k, v in window_aux.items()},
            }
            window_aux = {}
            _log(dist, log_file, record)
            bar.set_postfix(loss=f"{mean_loss:.3f}")
            t0, tokens, window_loss = time.perf_counter(), 0, []
        if cfg.eval_every > 0 and (step + 1) % cfg.eval_every == 0 and step + 1 < cfg.steps:
            last_eval = evaluation(step + 1)
        if cfg.save_every > 0 and (step + 1) % cfg.save_every == 0 and step + 1 < cfg.steps:
            save_checkpoint(out, step + 1, wrapped, model, processor, optimizer, cfg, dist, aux)
        # Every rank decides together (the mean of the flags), so no rank waits in a collective alone.
        if (
            cfg.max_minutes > 0
            and (step + 1) % cfg.log_every == 0
            and dist.mean(float(time.perf_counter() - loop_start > 60 * cfg.max_minutes)) > 0
        ):
            _log(dist, log_file, {"event": "time_budget", "step": step + 1, "max_minutes": cfg.max_minutes})
            break
    bar.close()
    final_step = max(step + 1, start_step) if cfg.steps > start_step else start_step
    last_eval = evaluation(final_step)
    save_checkpoint(out, final_step, wrapped, model, processor, optimizer, cfg, dist, aux)
    final = out / "final"
    if dist.main:
        full = full_state_dict(wrapped, cfg, dist)
        if final.exists():
            shutil.rmtree(final)
        model.save_pretrained(final, state_dict=full) if full is not None else model.save_pretrained(final)
        fix_embedding_split(final)
        processor.save_pretrained(final)
        save_config(cfg, final / CONFIG_FILE)
        plot_curves(log_file, out / "curves.png")
    elif cfg.parallel == "fsdp" and dist.world_size > 1:
        full_state_dict(wrapped, cfg, dist)
    summary = {
        **{k: v for k, v in last_eval.items() if k != "event"},
        "event": "end",
        "step": final_step,
        "final": str(final),
    }
    _log(dist, log_file, summary)
    dist.barrier()
    dist.close()
    return summary


def _log(dist: Dist, file: Path, record: dict[str, Any]) -> None:
    if not dist.main:
        return
    record = {"time": round(time.time(), 1), **record}
    with file.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    if record.get("event") in ("eval", "start", "end"):
        print(json.dumps(record), file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ command line


def cli_main(default_config: str, argv: Sequence[str] | None = None) -> int:
    """Shared command line of the entry points: ``--config FILE``, ``--set key=value``, ``--KEY value``,
    ``--debug``, ``--out_dir DIR``."""
    parser = argparse.ArgumentParser(description=f"Train with {default_config} (see training/README.md).")
    parser.add_argument(
        "--config", default=default_config, help="YAML file (a name in training/configs/ works)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field"
    )
    parser.add_argument("--debug", action="store_true", help="tiny model, few steps, small data (seconds)")
    args, rest = parser.parse_known_args(argv)
    overrides = []
    for item in args.set:
        if "=" not in item:
            parser.error(f"--set needs KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        overrides.append((key, value))
    i = 0
    while i < len(rest):
        token = rest[i]
        if not token.startswith("--"):
            parser.error(f"unexpected argument {token!r}")
        if "=" in token:
            key, value = token[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(rest):
                parser.error(f"{token} needs a value")
            key, value = token[2:], rest[i + 1]
            i += 2
        overrides.append((key, value))
    try:
        cfg = load_config(args.config, overrides)
    except ValueError as exc:
        parser.error(str(exc))
    if args.debug:
        cfg = debug_config(cfg)
    summary = train(cfg)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(summary))
    return 0


with contextlib.suppress(Exception):  # quieter transformers progress bars in training logs
    from transformers.utils import logging as _hf_logging

    _hf_logging.disable_progress_bar()
