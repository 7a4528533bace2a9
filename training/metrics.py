"""What the training loop measures: the answer loss it trains on, held-out losses, the shuffled-picture control,
gradient norms per component, and the loss curves."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.batching import IGNORE

__all__ = [
    "answer_loss",
    "answer_losses",
    "evaluate_losses",
    "grad_norms",
    "plot_curves",
    "shuffled_pictures",
    "to_device",
]


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


def answer_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    coordinate_ids: torch.Tensor | None = None,
    soft_targets: torch.Tensor | None = None,
    decision_weight: float = 1.0,
) -> torch.Tensor:
    """Mean next-token cross-entropy over the labelled (answer) tokens, as the model's own loss; with
    ``coordinate_ids`` (token id of each value 0-1000) and ``soft_targets`` (row per value,
    :func:`training.coords.soft_coordinate_targets`) a coordinate label is scored against its soft target over
    the coordinate tokens instead of one class. ``decision_weight`` multiplies the loss of the tokens that
    decide how many points an answer gives: an answer's first token ("There are none." or a point tag) and the
    token after each coordinate (another point group or the closing ``">``); the mean stays over all tokens.

    Args:
        logits: ``(B, L, V)``; labels: ``(B, L)`` with ``IGNORE`` outside the answers.
    """
    labels_before, labels = labels, labels[:, 1:]
    mask = labels != IGNORE
    log_probs = torch.log_softmax(logits[:, :-1][mask].float(), dim=-1)  # (N, V)
    target = labels[mask]
    nll = -log_probs.gather(1, target[:, None])[:, 0]
    if coordinate_ids is not None and soft_targets is not None and len(coordinate_ids):
        lookup = torch.full((log_probs.shape[1],), -1, dtype=torch.long, device=labels.device)
        lookup[coordinate_ids] = torch.arange(len(coordinate_ids), device=labels.device)
        value = lookup[target]
        is_coordinate = value >= 0
        if bool(is_coordinate.any()):
            soft = soft_targets.to(log_probs.device)[value[is_coordinate]]
            picked = log_probs[is_coordinate][:, coordinate_ids]
            nll = nll.clone()
            nll[is_coordinate] = -(soft * picked).sum(-1)
    if decision_weight != 1.0:
        before = labels_before[:, :-1]  # the token each labelled one follows (IGNORE: the prompt)
        decides = before == IGNORE
        if coordinate_ids is not None and len(coordinate_ids):
            decides = decides | torch.isin(before, coordinate_ids)
        nll = nll * torch.where(decides[mask], decision_weight, 1.0)
    return nll.mean()


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
        values = [answer_losses(model, to_device(b, device), digit_ids)[0] for b in eval_batches]
        result["eval_loss"] = float(np.mean(values))
    right, wrong, right_d, wrong_d = [], [], [], []
    for batch in control_batches:
        shuffled = shuffled_pictures(batch)
        if shuffled is None:
            continue
        a, d = answer_losses(model, to_device(batch, device), digit_ids)
        sa, sd = answer_losses(model, to_device(shuffled, device), digit_ids)
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


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def grad_norms(model: torch.nn.Module) -> dict[str, float]:
    from training.model import component_of

    sums = {"vit": 0.0, "connector": 0.0, "llm": 0.0}
    for name, p in model.named_parameters():
        if p.grad is not None:
            g = p.grad.detach()
            g = g.full_tensor() if hasattr(g, "full_tensor") else g
            sums[component_of(name.removeprefix("module."))] += float(g.float().pow(2).sum())
    return {f"grad_{k}": math.sqrt(v) for k, v in sums.items()}


def plot_curves(log_file: Path, png: Path) -> None:
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
