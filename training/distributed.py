"""The process layout of a training run and how the model is spread over it (single process, DDP or FSDP)."""

from __future__ import annotations

import os
from typing import Any

import torch

from training.config import TrainConfig


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


def wrap(model: torch.nn.Module, cfg: TrainConfig, dist: Dist) -> torch.nn.Module:
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


def full_state_dict(model: torch.nn.Module, cfg: TrainConfig, dist: Dist) -> dict[str, torch.Tensor] | None:
    """The unsharded model weights (on every rank for DDP / single; gathered to CPU for FSDP)."""
    if dist.world_size > 1 and cfg.parallel == "fsdp":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return None


def unwrap(model: torch.nn.Module) -> Any:
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
