"""Resumable checkpoints: the model (save_pretrained), processor, config, optimizer, step, RNG and aux heads.

Single process and DDP keep the optimizer state in ``trainer_state.pt``; FSDP shards it, so every rank writes
its shard with torch.distributed.checkpoint (``optimizer/``) and reads it back on resume.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from training.config import TrainConfig, save_config, to_dict
from training.distributed import Dist, full_state_dict

CHECKPOINTS = "checkpoints"
CONFIG_FILE = "train_config.yaml"
STATE_FILE = "trainer_state.pt"
OPTIMIZER_DIR = "optimizer"


def latest_checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint under ``out/checkpoints`` (one with a trainer state), or None."""
    root = out / CHECKPOINTS
    if not root.is_dir():
        return None
    done = [p for p in root.glob("step_*") if (p / STATE_FILE).is_file()]
    return max(done, key=lambda p: int(p.name.split("_")[1])) if done else None


def save_checkpoint(
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
    from training.molmo2 import fix_embedding_split

    full = full_state_dict(wrapped, cfg, dist)
    path = out / CHECKPOINTS / f"step_{step}"
    if _sharded(cfg, dist):
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        dcp.save(
            {"optimizer": get_optimizer_state_dict(_optimized(wrapped, aux), optimizer)},
            checkpoint_id=str(path / OPTIMIZER_DIR),
        )
    if dist.main:
        path.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(path, state_dict=full) if full is not None else model.save_pretrained(path)
        fix_embedding_split(path)
        processor.save_pretrained(path)
        save_config(cfg, path / CONFIG_FILE)
        state = {"step": step, "torch_rng": torch.get_rng_state(), "config": to_dict(cfg)}
        if not _sharded(cfg, dist):
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


def _sharded(cfg: TrainConfig, dist: Dist) -> bool:
    return cfg.parallel == "fsdp" and dist.world_size > 1


def _optimized(wrapped: torch.nn.Module, aux: torch.nn.Module | None) -> torch.nn.Module:
    """Every module the optimizer steps: torch.distributed.checkpoint names optimizer state by the owning
    module's parameter names, and the aux heads are not part of the model."""
    return wrapped if aux is None else torch.nn.ModuleDict({"model": wrapped, "aux": aux})


def load_training_state(
    start_dir: Path,
    wrapped: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    cfg: TrainConfig,
    dist: Dist,
    aux: torch.nn.Module | None = None,
) -> int:
    """Restore optimizer, aux heads and RNG from the checkpoint in `start_dir`; the step to go on from (0 when
    `start_dir` is not a checkpoint: a new model or ``init_from``).

    Raises:
        FileNotFoundError: an FSDP run resuming a checkpoint without optimizer shards (one written by a run
            with another layout).
    """
    state_file = start_dir / STATE_FILE
    if not state_file.is_file():
        return 0
    state: dict[str, Any] = torch.load(state_file, map_location="cpu", weights_only=False)
    if _sharded(cfg, dist):
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_optimizer_state_dict,
            set_optimizer_state_dict,
        )

        shards = start_dir / OPTIMIZER_DIR
        if not shards.is_dir():
            raise FileNotFoundError(
                f"{shards}: the checkpoint has no sharded optimizer state to resume FSDP from"
            )
        owner = _optimized(wrapped, aux)
        target = get_optimizer_state_dict(owner, optimizer)
        # A fresh optimizer lists (zero) state for every parameter, the saved one only for parameters that had a
        # gradient: load those, and drop the others' state so Adam starts them afresh as it would have.
        saved = dcp.FileSystemReader(str(shards)).read_metadata().state_dict_metadata
        kept = {
            name for name in target["state"] if any(k.startswith(f"optimizer.state.{name}.") for k in saved)
        }
        target["state"] = {name: value for name, value in target["state"].items() if name in kept}
        loaded = {"optimizer": target}
        dcp.load(loaded, checkpoint_id=str(shards))
        set_optimizer_state_dict(
            owner, optimizer, optim_state_dict=loaded["optimizer"], options=StateDictOptions(strict=False)
        )
        for name, param in owner.named_parameters():
            if name not in kept:
                optimizer.state.pop(param, None)
    elif "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    else:
        raise FileNotFoundError(f"{state_file} has no optimizer state (written by an FSDP run?)")
    if aux is not None and "aux_heads" in state:
        aux.load_state_dict(state["aux_heads"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"])
