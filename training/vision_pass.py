"""A vision-only pass (``vision_only: true``): the ViT and the connector train on the auxiliary colour, kind
and position heads alone, with no language-model pass and no answer loss.

Why: on held-out rows the shipped model's own kind heads told a ball from a block in 25-32 % of patches and a
cup from a mug in 53-66 % (training/README.md, "R18"), so the picture features carry too little shape for the
counting questions; a step without the language model is a cheaper way to train them than the whole mixture.
The stand-in for Molmo's pretrained vision encoder (``aux:``) is what trains here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

__all__ = [
    "LM_READING_WEIGHTS",
    "VISION_LOSS_WEIGHTS",
    "all_reduce_grads",
    "check_vision_only",
    "image_features",
]

#: Auxiliary losses on the ViT and connector alone: a vision-only pass trains on these.
VISION_LOSS_WEIGHTS = ("patch_weight", "token_weight", "position_weight", "object_kind_weight")

#: Auxiliary losses that read the language model's states: they have nothing to read in a vision-only pass.
LM_READING_WEIGHTS = (
    "pointer_weight",
    "attention_weight",
    "coord_weight",
    "relevance_weight",
    "order_weight",
)


def check_vision_only(cfg: Any) -> None:
    """Raise ValueError when ``cfg`` (:class:`training.config.TrainConfig`) asks for a vision-only pass that
    could not train anything, or could not train it the way it asks."""
    if not cfg.vision_only:
        return
    a = cfg.aux
    if max(getattr(a, name) for name in VISION_LOSS_WEIGHTS) <= 0:
        *first, last = (f"aux.{name}" for name in VISION_LOSS_WEIGHTS)
        raise ValueError(
            "vision_only trains the ViT and connector on the aux heads alone: "
            f"set {', '.join(first)} or {last} above 0"
        )
    reading = [name for name in LM_READING_WEIGHTS if getattr(a, name) > 0]
    if reading:
        raise ValueError(
            f"vision_only runs no language-model pass, so aux.{', aux.'.join(reading)} must be 0 "
            "(those losses read the language model's states)"
        )
    if cfg.parallel == "fsdp":
        raise ValueError("vision_only calls the vision tower outside the wrapped model: use parallel: ddp")


def image_features(model: Any, batch: dict[str, torch.Tensor]) -> None:
    """Run the ViT and the connector of ``model`` (the unwrapped Molmo2ForConditionalGeneration) on the batch's
    pictures; the auxiliary heads' forward hooks keep the outputs (:class:`training.aux_heads.AuxHeads`)."""
    model.model.get_image_features(batch["pixel_values"], batch["image_token_pooling"], batch["image_grids"])


def all_reduce_grads(
    params: Iterable[torch.nn.Parameter], world_size: int, fill_missing: bool = False
) -> None:
    """Average the gradients of ``params`` over the processes, for parameters whose backward did not go
    through DistributedDataParallel (the auxiliary heads; everything in a vision-only pass).

    fill_missing: a parameter with no gradient gets zeros and takes part; without it, it is skipped. Set it
    where one process's batch can leave a head unused while another's does not (an object-kind head on a batch
    with no visible object): every process must make the same collective calls, or they pair up wrongly."""
    if world_size <= 1:
        return
    grads: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    for param in params:
        if param.grad is None and fill_missing:
            param.grad = torch.zeros_like(param)
        if param.grad is not None:
            grads.setdefault((param.grad.dtype, param.grad.device), []).append(param.grad)
    # One collective per dtype and device, not one per tensor: each call is a round trip between processes.
    for group in grads.values():
        flat = torch.cat([g.reshape(-1) for g in group])
        torch.distributed.all_reduce(flat)
        flat /= world_size
        for grad, averaged in zip(group, flat.split([g.numel() for g in group]), strict=True):
            grad.copy_(averaged.view_as(grad))
