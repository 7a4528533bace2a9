"""Resuming a training run gives the same model as not stopping: one process, and FSDP over two gloo processes
on the CPU (whose optimizer state is sharded, so it is saved and read back per rank)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from support.resume_run import STEPS, resume_config
from training.checkpoint import CHECKPOINTS, OPTIMIZER_DIR
from training.debug import debug_config, debug_data
from training.train_loop import train

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    from training.config import load_config

    root = tmp_path_factory.mktemp("resume_data")
    cfg = debug_config(load_config("stage2_pointing.yaml", [("out_dir", str(root / "run"))]))
    return str(debug_data(cfg, root))


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "final" / "model.safetensors"))


def _interrupted_copy(full: Path, resumed: Path) -> None:
    """What a run stopped after step 3 leaves: only the step-3 checkpoint."""
    (resumed / CHECKPOINTS).mkdir(parents=True)
    shutil.copytree(full / CHECKPOINTS / "step_3", resumed / CHECKPOINTS / "step_3")


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float) -> None:
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= atol, f"largest weight difference {worst}"


def _moved(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, data):
    full = tmp_path / "full"
    train(resume_config(full, data))
    assert sorted(p.name for p in (full / CHECKPOINTS).iterdir()) == ["step_3", "step_6"]
    resumed = tmp_path / "resumed"
    _interrupted_copy(full, resumed)
    summary = train(resume_config(resumed, data))
    assert summary["step"] == STEPS
    log = (resumed / "log.jsonl").read_text()
    assert '"resumed_from"' in log and "step_3" in log
    _assert_same(_weights(full), _weights(resumed), atol=1e-6)
    # The comparison can fail: starting the last three steps from the step-3 weights without the optimizer's
    # moments (Adam restarting) lands somewhere else.
    assert _moved(_weights(full), load_file(str(full / CHECKPOINTS / "step_3" / "model.safetensors"))) > 1e-4


def _torchrun(out: Path, data: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{ROOT}:{ROOT / 'test'}"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += [str(ROOT / "test" / "support" / "resume_run.py"), str(out), data, "fsdp"]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_fsdp_on_two_gloo_processes_saves_sharded_optimizer_state_and_resumes_from_it(tmp_path, data):
    full = tmp_path / "full"
    run = _torchrun(full, data)
    assert run.returncode == 0, run.stderr[-4000:]
    shards = full / CHECKPOINTS / "step_3" / OPTIMIZER_DIR
    assert shards.is_dir() and any(shards.iterdir())
    resumed = tmp_path / "resumed"
    _interrupted_copy(full, resumed)
    run = _torchrun(resumed, data)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "step_3" in (resumed / "log.jsonl").read_text()
    _assert_same(_weights(full), _weights(resumed), atol=1e-5)
