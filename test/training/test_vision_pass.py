"""The vision-only pass (training/vision_pass.py): what it refuses, and that it trains the picture side alone."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from molmo_ros.sim.catalogue import KINDS
from training.checkpoint import latest_checkpoint
from training.config import load_config
from training.debug import debug_config
from training.kind_probe import kind_accuracy, tally_kinds
from training.vision_pass import LM_READING_WEIGHTS, VISION_LOSS_WEIGHTS, check_vision_only


def test_the_committed_vision_pass_reads_no_language_model_state() -> None:
    polish, vision = load_config("stage2_polish.yaml"), load_config("stage2_vision.yaml")
    assert vision.vision_only and not polish.vision_only
    assert vision.model.init_from == "out/training/stage2_polish/final"
    assert all(getattr(vision.aux, name) == 0 for name in LM_READING_WEIGHTS)
    assert vision.aux.patch_weight > 0 and vision.aux.token_weight > 0
    check_vision_only(vision)


@pytest.mark.parametrize("weight", LM_READING_WEIGHTS)
def test_a_loss_that_reads_the_language_model_is_refused(weight: str) -> None:
    cfg = load_config("stage2_vision.yaml")
    cfg = replace(cfg, aux=replace(cfg.aux, **{weight: 1.0}))
    with pytest.raises(ValueError, match=f"aux.{weight} must be 0"):
        check_vision_only(cfg)


def test_a_vision_pass_with_no_vision_loss_or_under_fsdp_is_refused() -> None:
    cfg = load_config("stage2_vision.yaml")
    silent = replace(cfg, aux=replace(cfg.aux, **dict.fromkeys(VISION_LOSS_WEIGHTS, 0.0)))
    with pytest.raises(ValueError, match=r"set aux\.patch_weight"):
        check_vision_only(silent)
    with pytest.raises(ValueError, match="use parallel: ddp"):
        check_vision_only(replace(cfg, parallel="fsdp"))
    check_vision_only(replace(silent, vision_only=False))  # an ordinary pass is not its business


def _weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(str(directory / "model.safetensors"))


@pytest.mark.slow
def test_a_vision_pass_changes_the_vit_and_connector_and_leaves_the_language_model(tmp_path) -> None:
    from training.train_loop import train

    cfg = debug_config(
        load_config(
            "stage2_vision.yaml",
            [
                ("out_dir", str(tmp_path / "vision")),
                ("init_from", ""),
                ("threads", "1"),
                ("aux.object_kind_weight", "1.0"),
            ],
        )
    )
    summary = train(cfg)
    out = Path(cfg.out_dir)
    before, after = _weights(out / "init"), _weights(Path(summary["final"]))
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    # Checkpoint names: the ViT is vision_backbone.image_vit, the connector image_pooling_2d + image_projector.
    vision = {name for name in before if name.startswith("model.vision_backbone.")}
    assert changed and changed <= vision, sorted(changed - vision)
    assert any(".image_vit." in name for name in changed) and any(
        ".image_projector." in name for name in changed
    )
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    train_records = [r for r in records if r.get("event") == "train"]
    assert train_records and all(
        "aux_patch" in r and "aux_token" in r and "aux_object_kind" in r for r in train_records
    )
    assert all("aux_attention" not in r and "aux_relevance" not in r for r in train_records)
    assert train_records[-1]["loss"] < train_records[0]["loss"], train_records

    # the data the run read: the debug set, or the rendered training set where one exists (training.debug);
    # the debug pictures are tiny: a tenth of a patch is what an object covers there
    data = next(r["data"] for r in records if r.get("event") == "start")
    probe = kind_accuracy(latest_checkpoint(out), 2, 0.1, [data])
    assert sum(probe["seen"]["patch"].values()) > 0 and sum(probe["seen"]["token"].values()) > 0
    assert set(probe["patch"]) == set(probe["seen"]["patch"]) <= set(KINDS)
    assert all(0.0 <= v <= 1.0 for level in ("patch", "token") for v in probe[level].values())
    with pytest.raises(ValueError, match="holds no auxiliary heads"):
        kind_accuracy(Path(summary["final"]))  # an export: the heads are training-only


def test_the_kind_tally_reads_covered_rows_and_object_kinds_only() -> None:
    n_colour = 3
    # rows: a block patch guessed block, a ball patch guessed block, a half-covered patch, an empty patch
    kind = torch.tensor([[0.1, 0.9, 0.0], [0.0, 0.0, 1.0], [0.6, 0.0, 0.4], [1.0, 0.0, 0.0]])
    logits = torch.zeros((4, n_colour + 3))
    logits[:, n_colour] = 9.0  # "no object" is the heads' favourite everywhere: left out of the guess
    logits[0, n_colour + 1] = logits[1, n_colour + 1] = logits[2, n_colour + 2] = 1.0
    assert tally_kinds(logits, kind, n_colour, min_cover=0.5) == {1: (1, 1), 2: (0, 1)}
    assert tally_kinds(logits, kind, n_colour, min_cover=0.3) == {1: (1, 1), 2: (1, 2)}


_REDUCE_ON_TWO_PROCESSES = """
import sys, torch
from training.vision_pass import all_reduce_grads
torch.distributed.init_process_group("gloo")
rank = torch.distributed.get_rank()
head, untouched = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))
weight = torch.nn.Parameter(torch.zeros(2, 2))
weight.grad = torch.tensor([[1.0, 2.0], [3.0, 4.0]]) * (rank + 1)  # both processes: (1 + 2) / 2 of it
if rank == 0:  # rank 0's batch gave the head a gradient, rank 1's left it unused
    head.grad = torch.tensor([2.0, 4.0, 6.0])
all_reduce_grads([head, weight], 2, fill_missing=True)
all_reduce_grads([untouched], 2)  # no gradient on either process: skipped on both
saved = {"head": head.grad, "weight": weight.grad, "untouched": untouched.grad}
torch.save(saved, f"{sys.argv[1]}/rank{rank}.pt")
torch.distributed.destroy_process_group()
"""


def test_a_head_one_process_left_unused_is_averaged_with_zeros_on_both(tmp_path) -> None:
    import subprocess
    import sys

    script = tmp_path / "reduce.py"
    script.write_text(_REDUCE_ON_TWO_PROCESSES)
    run = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    subprocess.run([*run, str(script), str(tmp_path)], check=True, timeout=120, env=env, cwd=root)
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert torch.equal(got["head"], torch.tensor([1.0, 2.0, 3.0]))
        assert torch.equal(got["weight"], torch.tensor([[1.5, 3.0], [4.5, 6.0]]))
        assert got["untouched"] is None
