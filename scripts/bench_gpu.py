#!/usr/bin/env python3
"""The model on a GPU at the published Molmo2 sizes: Molmo2-4B and Molmo2-8B built with random weights (none can
be downloaded here), through the transformers backend in bfloat16 with SDPA attention, on a 640x480 picture
with answers forced to 20 tokens. Prints one JSON object: per size p50 / p95 latency, prefill and decode
tokens per second, peak GPU memory and decode time over the memory-bandwidth floor (weight bytes / HBM
bandwidth per output token; H200: 4.8 TB/s). Each size is scripts/bench_model.py's measurement.

    .venv/bin/python scripts/bench_gpu.py                       # 4b and 8b on cuda (under 5 minutes on an H200)
    .venv/bin/python scripts/bench_gpu.py --sizes tiny --device cpu --dtype float32 --runs 2   # the CPU check
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["4b", "8b"], choices=("tiny", "4b", "8b"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--attn", default="sdpa")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--answer-tokens", type=int, default=20)
    parser.add_argument("--hbm-gbps", type=float, default=4800.0)
    args = parser.parse_args(argv)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            json.dumps({"error": "no CUDA device: this benchmark needs a GPU (or --device cpu --sizes tiny)"})
        )
        return 1
    results = {}
    began = time.perf_counter()
    for size in args.sizes:
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        results[size] = bench_model.measure(
            ["--config", size, "--device", args.device, "--dtype", args.dtype, "--attn", args.attn,
             "--runs", str(args.runs), "--warmup", str(args.warmup),
             "--answer-tokens", str(args.answer_tokens), "--hbm-gbps", str(args.hbm_gbps)]
        )  # fmt: skip
        gc.collect()
    keys = ("num_parameters", "device", "dtype", "attn_implementation", "gpu", "prompt_tokens", "answer_tokens",
            "prefill_ms_p50", "prefill_tokens_per_s", "decode_ms_per_token_p50", "decode_tokens_per_s",
            "peak_memory_gib", "peak_memory_kind", "bandwidth_floor_ms_per_token", "decode_over_bandwidth_floor",
            "load_s")  # fmt: skip
    summary = {
        size: {"latency_total_ms": r["latency_ms"]["total"], **{k: r.get(k) for k in keys}}
        for size, r in results.items()
    }
    print(json.dumps({"benchmark": "bench_gpu", "wall_s": round(time.perf_counter() - began, 1), **summary}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
