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
import math
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

from training.batching import IGNORE, BatchSource, digit_token_ids, pool_to_tokens
from training.config import TrainConfig, load_config, save_config, to_dict
from training.data.loaders import load_rows
from training.model import build_new_checkpoint, count_parameters, parameter_groups

__all__ = ["cli_main", "debug_config", "lr_factor", "train"]

CHECKPOINTS = "checkpoints"
CONFIG_FILE = "train_config.yaml"
STATE_FILE = "trainer_state.pt"


# ------------------------------------------------------------------------------------------ schedule


def lr_factor(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Multiplier of the peak learning rate at ``step`` (0-based): linear warmup over ``warmup`` steps, then a
    cosine from 1 down to ``min_ratio`` at ``total``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


# ------------------------------------------------------------------------------------------ distributed


class Dist:
    """The process layout: single process, or torchrun's (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``)."""

    def __init__(self) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device("cpu")
        if torch.cuda.is_available():
            self.device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(self.device)
        if self.world_size > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            torch.distributed.init_process_group(backend=backend)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            torch.distributed.barrier()

    def mean(self, value: float) -> float:
        if self.world_size == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return float(t.item()) / self.world_size

    def close(self) -> None:
        if self.world_size > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


# ------------------------------------------------------------------------------------------ model setup


def _corpus(rows: Any, limit: int) -> list[str]:
    """Text for the tokenizer: prompts and answers of the first ``limit`` rows, chat words, and the default
    corpus of point formats (so the tags are few tokens even before any pointing data)."""
    from molmo_ros.models.tiny import default_corpus

    lines = ["user", "assistant", "<|im_start|>user\n", "<|im_start|>assistant\n"]
    text_rows = rows.select_columns(["prompts", "answers"]).select(range(min(limit, len(rows))))
    for row in text_rows:
        lines += list(row["prompts"]) + list(row["answers"])
    return lines + default_corpus()


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


def latest_checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint under ``out/checkpoints`` (one with a trainer state), or None."""
    root = out / CHECKPOINTS
    if not root.is_dir():
        return None
    done = [p for p in root.glob("step_*") if (p / STATE_FILE).is_file()]
    return max(done, key=lambda p: int(p.name.split("_")[1])) if done else None


def _wrap(model: torch.nn.Module, cfg: TrainConfig, dist: Dist) -> torch.nn.Module:
    if dist.world_size == 1:
        return model
    if cfg.parallel == "ddp":
        ids = [dist.local_rank] if dist.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=False)
    if cfg.parallel == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for layer in model.model.language_model.layers:
            fully_shard(layer)
        for layer in model.model.vision_tower.layers:
            fully_shard(layer)
        fully_shard(model)
        return model
    raise ValueError(f"parallel must be 'ddp' or 'fsdp', got {cfg.parallel!r}")


def _full_state_dict(model: torch.nn.Module, cfg: TrainConfig, dist: Dist) -> dict[str, torch.Tensor] | None:
    """The unsharded model weights (on every rank for DDP / single; gathered to CPU for FSDP)."""
    if dist.world_size > 1 and cfg.parallel == "fsdp":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return None


def _unwrap(model: torch.nn.Module) -> Any:
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


# ------------------------------------------------------------------------------------------ measuring


def answer_losses(model: Any, batch: dict[str, torch.Tensor], digit_ids: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy (nats) over answer tokens, and over the answer's digit tokens only."""
    out = model(**{k: v for k, v in batch.items() if k != "labels" and not k.startswith("aux_")})
    logits = out.logits[:, :-1].float()
    labels = batch["labels"][:, 1:]
    mask = labels != IGNORE
    losses = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.clamp(min=0).reshape(-1), reduction="none"
    ).reshape(labels.shape)
    digits = mask & torch.isin(labels, digit_ids.to(labels.device))
    answer = float(losses[mask].mean()) if mask.any() else float("nan")
    digit = float(losses[digits].mean()) if digits.any() else float("nan")
    return answer, digit


def shuffled_pictures(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """The batch with every example given the next example's picture (rotated by one); None when the pictures
    differ in crop count (then the rotation would not line up)."""
    crops = batch["image_num_crops"]
    if len(crops) < 2 or not bool((crops == crops[0]).all()):
        return None
    n = len(crops)
    pixels = batch["pixel_values"].reshape(n, int(crops[0]), *batch["pixel_values"].shape[1:])
    shuffled = dict(batch)
    shuffled["pixel_values"] = torch.roll(pixels, shifts=1, dims=0).reshape(batch["pixel_values"].shape)
    return shuffled


@torch.no_grad()
def evaluate_losses(
    model: Any,
    eval_batches: list[dict[str, torch.Tensor]],
    control_batches: list[dict[str, torch.Tensor]],
    digit_ids: torch.Tensor,
    device: torch.device,
) -> dict[str, float]:
    """Held-out answer loss, and the shuffled-picture control on pointing / counting answers."""
    was_training = model.training
    model.eval()
    result: dict[str, float] = {}
    if eval_batches:
        values = [answer_losses(model, _to(b, device), digit_ids)[0] for b in eval_batches]
        result["eval_loss"] = float(np.mean(values))
    right, wrong, right_d, wrong_d = [], [], [], []
    for batch in control_batches:
        shuffled = shuffled_pictures(batch)
        if shuffled is None:
            continue
        a, d = answer_losses(model, _to(batch, device), digit_ids)
        sa, sd = answer_losses(model, _to(shuffled, device), digit_ids)
        right.append(a), wrong.append(sa), right_d.append(d), wrong_d.append(sd)
    if right:
        result.update(control_loss_right=float(np.mean(right)), control_loss_shuffled=float(np.mean(wrong)))
        if not all(math.isnan(v) for v in right_d):  # caption answers have no coordinate digits
            result.update(
                control_digit_loss_right=float(np.nanmean(right_d)),
                control_digit_loss_shuffled=float(np.nanmean(wrong_d)),
            )
        result["control_gap"] = result["control_loss_shuffled"] - result["control_loss_right"]
    model.train(was_training)
    return result


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def _grad_norms(model: torch.nn.Module) -> dict[str, float]:
    from training.model import component_of

    sums = {"vit": 0.0, "connector": 0.0, "llm": 0.0}
    for name, p in model.named_parameters():
        if p.grad is not None:
            g = p.grad.detach()
            g = g.full_tensor() if hasattr(g, "full_tensor") else g
            sums[component_of(name.removeprefix("module."))] += float(g.float().pow(2).sum())
    return {f"grad_{k}": math.sqrt(v) for k, v in sums.items()}


# ------------------------------------------------------------------------------------------ auxiliary vision loss


class AuxHeads(torch.nn.Module):
    """Linear heads of the auxiliary vision loss (:class:`training.config.AuxConfig`), fed by forward hooks on
    the ViT and the connector of ``model`` during the ordinary forward pass (no second pass)."""

    def __init__(self, model: Any, pointer_dim: int = 64) -> None:
        super().__init__()
        from training.batching import aux_class_counts

        n_colour, n_kind = aux_class_counts()
        vit = model.model.vision_tower.config.hidden_size
        text = model.config.text_config.hidden_size
        self.patch = torch.nn.Linear(vit, n_colour + n_kind)
        self.token = torch.nn.Linear(text, n_colour + n_kind)
        self.query = torch.nn.Linear(text, pointer_dim)
        self.key = torch.nn.Linear(text, pointer_dim)
        self.coord = torch.nn.Linear(text, 2)
        self.token_xy = torch.nn.Linear(text, 2)
        self.image_token_id = int(
            getattr(model.config, "image_token_id", None) or model.config.image_patch_id
        )
        self.n_colour = n_colour
        self._seen: dict[str, torch.Tensor] = {}
        inner = model.model
        self._hooks = [
            inner.vision_tower.register_forward_hook(self._keep("patch")),
            inner.multi_modal_projector.register_forward_hook(self._keep("token")),
        ]

    def _keep(self, name: str) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            self._seen[name] = output.last_hidden_state

        return hook

    def _soft_ce(
        self, logits: torch.Tensor, colour: torch.Tensor, kind: torch.Tensor, w: float
    ) -> torch.Tensor:
        covered = 1.0 - colour[:, 0]
        weight = 1.0 + w * covered
        lc = -(colour * torch.log_softmax(logits[:, : self.n_colour], -1)).sum(-1)
        lk = -(kind * torch.log_softmax(logits[:, self.n_colour :], -1)).sum(-1)
        return ((lc + lk) * weight).sum() / weight.sum()

    def loss(
        self,
        batch: dict[str, torch.Tensor],
        patch_weight: float,
        token_weight: float,
        object_weight: float,
        position_weight: float = 0.0,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The weighted auxiliary loss of the last forward pass, and its parts (for the log)."""
        colour, kind = batch["aux_colour"], batch["aux_kind"]
        total = torch.zeros((), device=colour.device)
        parts: dict[str, float] = {}
        if patch_weight > 0 and "patch" in self._seen:
            feats = self._seen["patch"].reshape(-1, self._seen["patch"].shape[-1])
            lp = self._soft_ce(self.patch(feats), colour, kind, object_weight)
            total = total + patch_weight * lp
            parts["aux_patch"] = float(lp.detach())
        pool = batch["image_token_pooling"]
        if token_weight > 0 and "token" in self._seen:
            feats = self._seen["token"]
            lt = self._soft_ce(
                self.token(feats.reshape(-1, feats.shape[-1])),
                pool_to_tokens(colour, pool),
                pool_to_tokens(kind, pool),
                object_weight,
            )
            total = total + token_weight * lt
            parts["aux_token"] = float(lt.detach())
        if position_weight > 0 and "token" in self._seen and "aux_patch_xy" in batch:
            feats = self._seen["token"]
            pred = self.token_xy(feats.reshape(-1, feats.shape[-1]))
            target = pool_to_tokens(batch["aux_patch_xy"], pool)
            lxy = torch.nn.functional.smooth_l1_loss(pred, target, beta=0.05)
            total = total + position_weight * lxy
            parts["aux_token_xy"] = float(lxy.detach())
        self._seen.pop("patch", None), self._seen.pop("token", None)
        return total, parts

    def _digit_targets(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """The coordinate-digit positions (``rows``, ``cols``), their targets over the image tokens
        ``(Q, n_img)`` and the image-token mask ``(B, L)``; None when the batch has no point answers or its
        examples differ in image-token count (then the targets would not line up)."""
        if "aux_ptr_rows" not in batch:
            return None
        target = batch["aux_ptr_targets"]
        is_image = batch["input_ids"] == self.image_token_id
        n_img = int(is_image[0].sum())
        if n_img != target.shape[1] or not bool((is_image.sum(1) == n_img).all()):
            return None
        return batch["aux_ptr_rows"], batch["aux_ptr_cols"], target, is_image

    def pointer_loss(self, batch: dict[str, torch.Tensor], hidden: torch.Tensor) -> torch.Tensor | None:
        """Soft cross-entropy of a bilinear pointer from the LM states that predict coordinate digits onto the
        picture's image-token states (targets: the pointed object's share of each token)."""
        found = self._digit_targets(batch)
        if found is None:
            return None
        rows, cols, target, is_image = found
        n_img = target.shape[1]
        keys = hidden[is_image].reshape(hidden.shape[0], n_img, -1)[rows]  # (Q, n_img, D)
        q = self.query(hidden[rows, cols])  # (Q, d)
        k = self.key(keys)  # (Q, n_img, d)
        scores = torch.einsum("qd,qnd->qn", q, k) / math.sqrt(q.shape[-1])
        return -(target * torch.log_softmax(scores, -1)).sum(-1).mean()

    def coord_loss(self, batch: dict[str, torch.Tensor], hidden: torch.Tensor) -> torch.Tensor | None:
        """Squared error (x10) of the pointed object's (x, y) (0-1 of the picture) read linearly from the LM state
        that predicts the point's first coordinate digit (later digits could read the digits already written)."""
        if "aux_ptr_xy" not in batch:
            return None
        first = ~batch["aux_ptr_xy"][:, 0].isnan()
        if not bool(first.any()):
            return None
        rows, cols = batch["aux_ptr_rows"][first], batch["aux_ptr_cols"][first]
        pred = torch.sigmoid(self.coord(hidden[rows, cols]))
        return (pred - batch["aux_ptr_xy"][first]).pow(2).sum(-1).mean() * 10.0

    def watch_attention(self, model: Any, layers: Sequence[int]) -> None:
        """Keep the attention probabilities of these LM layers (they must run the eager attention)."""
        n_layers = len(model.model.language_model.layers)
        outside = [i for i in layers if not 0 <= i < n_layers]
        if outside:
            raise ValueError(f"aux.attention_layers {list(outside)} outside the model's {n_layers} LM layers")
        for i in layers:
            attn = model.model.language_model.layers[i].self_attn
            self._hooks.append(attn.register_forward_hook(self._keep_attention(f"attn{i}")))

    def _keep_attention(self, name: str) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            if output[1] is not None:
                self._seen[name] = output[1]

        return hook

    def attention_loss(
        self, batch: dict[str, torch.Tensor], layers: Sequence[int], heads: int
    ) -> torch.Tensor | None:
        """Soft cross-entropy between the guided heads' attention at the positions that predict coordinate digits
        and the pointed object's share of each image token (mass elsewhere counts as a miss)."""
        found = self._digit_targets(batch)
        if found is None:
            return None
        rows, cols, target, is_image = found
        n_img = target.shape[1]
        img_pos = is_image.nonzero()[:, 1].reshape(is_image.shape[0], n_img)[rows]  # (Q, n_img)
        losses = []
        for i in layers:
            probs = self._seen.pop(f"attn{i}", None)
            if probs is None:
                continue
            picked = probs[rows, :heads, cols]  # (Q, heads, L)
            on_image = picked.gather(2, img_pos[:, None, :].expand(-1, picked.shape[1], -1))
            losses.append(-(target[:, None, :] * torch.log(on_image + 1e-6)).sum(-1).mean())
        return torch.stack(losses).mean() if losses else None


# ------------------------------------------------------------------------------------------ the loop


def debug_config(cfg: TrainConfig) -> TrainConfig:
    """``--debug``: a tiny model, a few steps, a small rendered set; finishes in seconds on a CPU."""
    from molmo_ros.models.tiny import Molmo2Sizes

    sizes = replace(Molmo2Sizes.tiny(), max_crops=1, image_pooling=(2, 2), tokenizer_vocab_size=400)
    init_from = cfg.model.init_from if cfg.model.init_from and Path(cfg.model.init_from).is_dir() else ""
    model = replace(cfg.model, sizes=sizes, tokenizer_corpus_rows=50, init_from=init_from)
    data = replace(cfg.data, batch_size=4, max_turns=2, eval_fraction=0.25)
    # The tiny model has fewer LM layers than the real one: guide the layers it has.
    guided = tuple(i for i in cfg.aux.attention_layers if i < sizes.text_layers) or (sizes.text_layers - 1,)
    aux = replace(cfg.aux, attention_layers=guided)
    optim = replace(cfg.optim, warmup_steps=3, lr_vit=3e-3, lr_connector=3e-3, lr_llm=3e-3)
    return replace(
        cfg,
        model=model,
        data=data,
        optim=optim,
        aux=aux,
        steps=min(cfg.steps, 30),
        log_every=5,
        eval_every=0,
        save_every=0,
        keep_checkpoints=1,
        debug=True,
        out_dir=cfg.out_dir.rstrip("/") + "_debug",
    )


def _debug_data(cfg: TrainConfig, out: Path) -> str:
    """A tiny synthetic set for ``--debug`` (2 scenes x 4 views), rendered once into ``out/debug_data``."""
    from training.data.build import CAPTION_DIR, MIXTURE_DIR, BuildConfig, build
    from training.data.scenes import RenderConfig

    root = out / "debug_data"
    name = CAPTION_DIR if cfg.stage == "stage1" else MIXTURE_DIR
    if not (root / name).is_dir():
        build(
            root,
            BuildConfig(seeds=(0, 2), render=RenderConfig(width=160, height=120, views_per_scene=4)),
            progress=False,
        )
    return str(root / name)


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or resume) the training described by ``cfg``; returns a summary (also the last line of the log)."""
    from tqdm import tqdm
    from transformers import AutoProcessor, Molmo2ForConditionalGeneration

    from molmo_ros.models.tiny import fix_embedding_split

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

    data_path = _debug_data(cfg, out) if cfg.debug and not Path(cfg.data.train).exists() else cfg.data.train
    rows = load_rows(data_path, cfg.data.format)
    n_eval = max(1, int(len(rows) * cfg.data.eval_fraction)) if len(rows) > 1 else 0
    train_rows = rows.select(range(len(rows) - n_eval))
    eval_rows = rows.select(range(len(rows) - n_eval, len(rows)))

    start_dir, init_report = _prepare_model(cfg, train_rows, dist, out)
    model = Molmo2ForConditionalGeneration.from_pretrained(start_dir, dtype=torch.float32).to(dist.device)
    processor = AutoProcessor.from_pretrained(start_dir)
    model.train()
    counts = count_parameters(model)
    wrapped = _wrap(model, cfg, dist)

    o, a = cfg.optim, cfg.aux
    lrs = {"vit": o.lr_vit, "connector": o.lr_connector, "llm": o.lr_llm}
    groups = parameter_groups(model, lrs, o.weight_decay)
    use_aux = any(
        w > 0
        for w in (
            a.patch_weight,
            a.token_weight,
            a.position_weight,
            a.pointer_weight,
            a.attention_weight,
            a.coord_weight,
        )
    )
    aux: AuxHeads | None = None
    if use_aux:
        torch.manual_seed(cfg.seed + 17)
        aux = AuxHeads(model, cfg.aux.pointer_dim).to(dist.device)
        if cfg.aux.attention_weight > 0:
            model.model.language_model.config._attn_implementation = "eager"
            aux.watch_attention(model, cfg.aux.attention_layers)
        groups.append(
            {
                "params": list(aux.parameters()),
                "lr": cfg.aux.lr,
                "base_lr": cfg.aux.lr,
                "weight_decay": 0.0,
                "component": "aux",
            }
        )
    optimizer = torch.optim.AdamW(groups, lr=o.lr_llm, betas=o.betas, eps=o.eps, fused=False)
    start_step = 0
    state_file = start_dir / STATE_FILE
    if state_file.is_file():
        state = torch.load(state_file, map_location="cpu", weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        start_step = int(state["step"])
        if aux is not None and "aux_heads" in state:
            aux.load_state_dict(state["aux_heads"])
        torch.set_rng_state(state["torch_rng"])

    source = BatchSource(
        train_rows,
        processor,
        cfg.data.batch_size,
        cfg.data.max_turns,
        cfg.data.max_seq_len,
        cfg.seed,
        dist.world_size,
        dist.rank,
        aux_targets=use_aux,
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
    for step, batch in zip(range(start_step, cfg.steps), loader, strict=False):
        factor = lr_factor(step, cfg.steps, o.warmup_steps, o.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        batch = _to(batch, dist.device)
        inputs = {k: v for k, v in batch.items() if not k.startswith("aux_")}
        want_hidden = aux is not None and (cfg.aux.pointer_weight > 0 or cfg.aux.coord_weight > 0)
        output = wrapped(**inputs, output_hidden_states=want_hidden)
        loss = output.loss
        aux_parts: dict[str, float] = {}
        total = loss
        if aux is not None and "aux_colour" in batch:
            ramp = 1.0 + (cfg.aux.end_ratio - 1.0) * step / max(1, cfg.steps - 1)
            aux_loss, aux_parts = aux.loss(
                batch,
                cfg.aux.patch_weight * ramp,
                cfg.aux.token_weight * ramp,
                cfg.aux.object_weight,
                cfg.aux.position_weight * ramp,
            )
            total = loss + aux_loss
            if want_hidden and cfg.aux.pointer_weight > 0:
                pointer = aux.pointer_loss(batch, output.hidden_states[cfg.aux.pointer_layer])
                if pointer is not None:
                    total = total + cfg.aux.pointer_weight * ramp * pointer
                    aux_parts["aux_pointer"] = float(pointer.detach())
            if cfg.aux.coord_weight > 0:
                coord = aux.coord_loss(batch, output.hidden_states[cfg.aux.coord_layer])
                if coord is not None:
                    total = total + cfg.aux.coord_weight * ramp * coord
                    aux_parts["aux_coord"] = float(coord.detach())
            if cfg.aux.attention_weight > 0:
                guided = aux.attention_loss(batch, cfg.aux.attention_layers, cfg.aux.attention_heads)
                if guided is not None:
                    total = total + cfg.aux.attention_weight * ramp * guided
                    aux_parts["aux_attention"] = float(guided.detach())
            for name in aux_parts:
                window_aux.setdefault(name, []).append(aux_parts[name])
        total.backward()
        if aux is not None and dist.world_size > 1:
            for param in aux.parameters():
                if param.grad is not None:
                    torch.distributed.all_reduce(param.grad)
                    param.grad /= dist.world_size
        norms = _grad_norms(wrapped) if (step + 1) % cfg.log_every == 0 else {}
        if o.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(wrapped.parameters(), o.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        window_loss.append(float(loss.detach()))
        tokens += int(batch["attention_mask"].sum())
        bar.update(1)
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            elapsed = time.perf_counter() - t0
            mean_loss = dist.mean(float(np.mean(window_loss)))
            record = {
                "event": "train",
                "step": step + 1,
                "loss": round(mean_loss, 5),
                "lr_llm": o.lr_llm * factor,
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
            _save_checkpoint(out, step + 1, wrapped, model, processor, optimizer, cfg, dist, aux)
    bar.close()
    final_step = max(step + 1, start_step) if cfg.steps > start_step else start_step
    last_eval = evaluation(final_step)
    _save_checkpoint(out, final_step, wrapped, model, processor, optimizer, cfg, dist, aux)
    final = out / "final"
    if dist.main:
        full = _full_state_dict(wrapped, cfg, dist)
        if final.exists():
            shutil.rmtree(final)
        model.save_pretrained(final, state_dict=full) if full is not None else model.save_pretrained(final)
        fix_embedding_split(final)
        processor.save_pretrained(final)
        save_config(cfg, final / CONFIG_FILE)
        _plot_curves(log_file, out / "curves.png")
    elif cfg.parallel == "fsdp" and dist.world_size > 1:
        _full_state_dict(wrapped, cfg, dist)
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


def _save_checkpoint(
    out: Path,
    step: int,
    wrapped: torch.nn.Module,
    model: Any,
    processor: Any,
    optimizer: torch.optim.Optimizer,
    cfg: TrainConfig,
    dist: Dist,
    aux: torch.nn.Module | None = None,
) -> None:
    """A resumable checkpoint: model (save_pretrained), processor, optimizer + step + RNG, the config."""
    from molmo_ros.models.tiny import fix_embedding_split

    full = _full_state_dict(wrapped, cfg, dist)
    path = out / CHECKPOINTS / f"step_{step}"
    if cfg.parallel == "fsdp" and dist.world_size > 1:
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        dcp.save(
            {"optimizer": get_optimizer_state_dict(wrapped, optimizer)}, checkpoint_id=str(path / "optimizer")
        )
    if dist.main:
        path.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(path, state_dict=full) if full is not None else model.save_pretrained(path)
        fix_embedding_split(path)
        processor.save_pretrained(path)
        save_config(cfg, path / CONFIG_FILE)
        state = {"step": step, "torch_rng": torch.get_rng_state(), "config": to_dict(cfg)}
        if not (cfg.parallel == "fsdp" and dist.world_size > 1):
            state["optimizer"] = optimizer.state_dict()
        if aux is not None:
            state["aux_heads"] = aux.state_dict()
        torch.save(state, path / STATE_FILE)
        done = sorted(
            (p for p in (out / CHECKPOINTS).glob("step_*")), key=lambda p: int(p.name.split("_")[1])
        )
        for old in done[: -cfg.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
    dist.barrier()


def _plot_curves(log_file: Path, png: Path) -> None:
    """Training loss, held-out loss and the picture control against steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    train = [r for r in records if r.get("event") == "train"]
    evals = [r for r in records if r.get("event") == "eval"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].plot([r["step"] for r in train], [r["loss"] for r in train], label="train loss")
    if any("eval_loss" in r for r in evals):
        axes[0].plot(
            [r["step"] for r in evals if "eval_loss" in r],
            [r["eval_loss"] for r in evals if "eval_loss" in r],
            "o-",
            label="held-out loss",
        )
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("answer loss (nats/token)")
    axes[0].legend()
    ctl = [r for r in evals if "control_digit_loss_right" in r]
    if ctl:
        axes[1].plot(
            [r["step"] for r in ctl],
            [r["control_digit_loss_right"] for r in ctl],
            "o-",
            label="right picture",
        )
        axes[1].plot(
            [r["step"] for r in ctl],
            [r["control_digit_loss_shuffled"] for r in ctl],
            "o-",
            label="shuffled pictures",
        )
        axes[1].set_ylabel("coordinate-digit loss (nats/token)")
        axes[1].set_xlabel("step")
        axes[1].legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


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
