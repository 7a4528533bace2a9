"""scripts/bench_gpu.py on a CPU with the tiny size: the same measurement the GPU run makes, with every figure
the GPU report needs (a real forward pass; only the size and the device differ)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def test_bench_gpu_reports_prefill_decode_memory_and_the_bandwidth_floor_on_a_cpu():
    command = [sys.executable, str(ROOT / "scripts" / "bench_gpu.py"), "--sizes", "tiny", "--device", "cpu",
               "--dtype", "float32", "--runs", "2", "--warmup", "1"]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])["tiny"]
    assert report["answer_tokens"] == {"forced": 20, "min": 20, "max": 20}
    assert report["attn_implementation"] == "sdpa" and report["dtype"] == "float32"
    assert report["prompt_tokens"] > 50  # the picture's tokens are in the prompt
    assert 0 < report["prefill_ms_p50"] < report["latency_total_ms"]["p50"]
    assert report["decode_tokens_per_s"] > 0 and report["prefill_tokens_per_s"] > 0
    assert report["peak_memory_gib"] > 0 and report["decode_over_bandwidth_floor"] > 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: the default run measures it")
def test_without_a_gpu_the_default_run_says_so():
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_gpu.py")], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 1 and "no CUDA device" in run.stdout
