#!/usr/bin/env python3
"""Latency of one point query through the transformers backend, printed as one JSON object.

    .venv/bin/python scripts/bench_model.py                    # tiny random Molmo2, CPU, 640x480
    .venv/bin/python scripts/bench_model.py --config 8b        # Molmo2-8B-sized random model (needs a GPU)
    .venv/bin/python scripts/bench_model.py --config 4b --attn sdpa --hbm-gbps 4800   # + the bandwidth floor
    .venv/bin/python scripts/bench_model.py --checkpoint DIR   # any checkpoint directory or hub id

What is measured, per query: ``preprocess_ms`` (picture + prompt to tensors on the device), ``model_ms``
(greedy ``generate`` and decoding), ``parse_ms`` (answer text to pixel points) and ``total_ms``; p50 and p95
over ``--runs`` queries after ``--warmup`` untimed ones, on a fixed synthetic 640x480 picture. Then the
split of ``model_ms``: prefill (the same query answered with one token) and decode (the rest), as tokens per
second; the peak memory (CUDA: ``max_memory_allocated``; CPU: the process's peak RSS); and, given the memory
bandwidth (``--hbm-gbps``, H200: 4800), how far one decoded token is from the bandwidth floor (every weight
read once per token: weight bytes / bandwidth).

Honesty notes, also written into the JSON:

* A random model's answer is gibberish of arbitrary length, and generation time grows with the answer's length.
  ``--answer-tokens N`` (default 27, the length of ``<points alt="red cup" coords="1 1 500 500">red cup</points>``
  plus the end token with the tiny tokenizer) forces every answer to exactly N tokens, so the figure is that
  of a realistic point answer; ``--answer-tokens 0`` lets the model stop where it likes.
* Parsing gibberish is not parsing an answer: ``parse_ms`` is measured on the model's text (parse errors are
  counted, not fatal) and ``parse_real_answer_ms`` on a real Molmo2 point answer.
* ``--config 8b`` builds the real Molmo2-8B sizes (Qwen3-8B language model, SigLIP so400m vision, 8 crops of
  378 px) with random weights: the same compute per token as the released weights; the text it writes is
  meaningless. On a CPU it is refused (35 GB in float32 and minutes per query) unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from molmo_ros.errors import MolmoRosError
from molmo_ros.pointing import parse_points, point_prompt

REAL_ANSWER = '<points alt="red cup" coords="1 1 500 500">red cup</points>'


def scene(width: int = 640, height: int = 480) -> np.ndarray:
    """A fixed synthetic table-top picture: grey table, a red square and a blue disc (uint8 RGB)."""
    image = np.full((height, width, 3), 128, dtype=np.uint8)
    image[height // 2 - 30 : height // 2 + 30, width // 2 - 30 : width // 2 + 30] = (220, 30, 30)
    yy, xx = np.mgrid[0:height, 0:width]
    image[(xx - width // 5) ** 2 + (yy - height // 5) ** 2 < 40**2] = (30, 40, 220)
    return image


def percentiles(values: list[float]) -> dict[str, float]:
    """p50 / p95 / mean / min / max of ``values`` (milliseconds), rounded to 0.01 ms."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(p95, 2),
        "mean": round(statistics.fmean(ordered), 2),
        "min": round(ordered[0], 2),
        "max": round(ordered[-1], 2),
    }


def load(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The backend to measure and a description of how it was made."""
    import torch

    from molmo_ros.models.transformers_backend import TransformersPointModel, resolve_device
    from training.molmo2 import Molmo2Sizes, build_molmo2, tiny_checkpoint

    if args.checkpoint:
        model = TransformersPointModel(
            args.checkpoint, device=args.device, dtype=args.dtype, max_new_tokens=64
        )
        return model, {"source": args.checkpoint, "weights": "checkpoint"}
    if args.config == "tiny":
        path = tiny_checkpoint()
        model = TransformersPointModel(
            path, device=args.device, dtype=args.dtype, max_new_tokens=64, attn_implementation=args.attn
        )
        return model, {"source": str(path), "weights": "random (tiny test checkpoint, seed 0)"}

    choice = resolve_device(args.device, args.dtype)
    if choice.device == "cpu" and not args.force:
        raise SystemExit(
            json.dumps(
                {
                    "error": f"a Molmo2-{args.config.upper()}-sized model is too big for this CPU benchmark: "
                    "4.6-8.7 B parameters (18-35 GB in float32) and minutes per query on a few cores. Run it on "
                    "a GPU (--device cuda), or pass --force to try anyway.",
                    "config": args.config,
                    "cuda_available": torch.cuda.is_available(),
                }
            )
        )
    sizes = Molmo2Sizes.molmo2_8b() if args.config == "8b" else Molmo2Sizes.molmo2_4b()
    built, processor, info = build_molmo2(sizes, device=choice.device, dtype=choice.dtype)
    if args.attn != "auto":
        built.set_attn_implementation(args.attn)
    model = TransformersPointModel.from_loaded(
        built, processor, name=f"random Molmo2-{args.config.upper()}-sized", max_new_tokens=64
    )
    return model, {
        "source": f"Molmo2Sizes.molmo2_{args.config}()",
        "weights": "random",
        "num_parameters": info.num_parameters,
    }


def prefill_decode(
    backend: Any, image: np.ndarray, prompt: str, rows: list, prompt_tokens: int, new_tokens: list, args: Any
) -> dict[str, Any]:
    """Prefill (the query answered with exactly one token) vs decode (the rest of the answer), peak memory,
    and the decode's distance from the memory-bandwidth floor."""
    import resource

    import torch

    cuda = str(next(backend.model.parameters()).device).startswith("cuda")
    answer, min_tokens = backend.max_new_tokens, backend.model.generation_config.min_new_tokens
    backend.max_new_tokens, backend.model.generation_config.min_new_tokens = 1, 1
    prefill = [backend.generate(image, prompt).model_ms for _ in range(max(3, args.runs // 3))]
    backend.max_new_tokens, backend.model.generation_config.min_new_tokens = answer, min_tokens
    prefill_ms = statistics.median(prefill)
    model_ms = statistics.median(row["model"] for row in rows)
    decoded = statistics.median(new_tokens) - 1
    decode_ms_per_token = (model_ms - prefill_ms) / decoded if decoded > 0 else float("nan")
    weight_bytes = sum(p.numel() * p.element_size() for p in backend.model.parameters())
    floor_ms = weight_bytes / (args.hbm_gbps * 1e9) * 1e3
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return {
        "prefill_ms_p50": round(prefill_ms, 2),
        "prefill_tokens_per_s": round(prompt_tokens / (prefill_ms / 1e3), 1),
        "decode_ms_per_token_p50": round(decode_ms_per_token, 3),
        "decode_tokens_per_s": round(1e3 / decode_ms_per_token, 1) if decode_ms_per_token > 0 else None,
        "peak_memory_gib": round(peak, 3),
        "peak_memory_kind": "torch.cuda.max_memory_allocated" if cuda else "process peak RSS",
        "weight_bytes": weight_bytes,
        "bandwidth_gbps_assumed": args.hbm_gbps,
        "bandwidth_floor_ms_per_token": round(floor_ms, 4),
        "decode_over_bandwidth_floor": round(decode_ms_per_token / floor_ms, 2) if floor_ms > 0 else None,
    }


def main(argv: list[str] | None = None) -> int:
    print(json.dumps(measure(argv), indent=2))
    return 0


def measure(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark with these command-line arguments; the result as a dict (what main prints)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=("tiny", "4b", "8b"), default="tiny")
    parser.add_argument("--attn", default="auto", help="attention implementation: auto, sdpa, eager ...")
    parser.add_argument("--hbm-gbps", type=float, default=4800.0, help="memory bandwidth, GB/s (H200: 4800)")
    parser.add_argument("--checkpoint", help="measure this checkpoint directory or hub id instead")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--answer-tokens", type=int, default=27, help="force answers of N tokens (0: free)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (0: torch's default); 1 is robust on a busy box",
    )
    parser.add_argument("--force", action="store_true", help="run the 8b configuration on a CPU anyway")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    backend, source = load(args)
    load_s = time.perf_counter() - start
    if args.answer_tokens > 0:
        # Exactly N new tokens per answer: never stop early, never run longer.
        backend.max_new_tokens = args.answer_tokens
        backend.model.generation_config.min_new_tokens = args.answer_tokens

    image = scene(args.width, args.height)
    prompt = point_prompt("the red cup")
    rows: list[dict[str, float]] = []
    parse_errors = 0
    new_tokens: list[int] = []
    for i in range(args.warmup + args.runs):
        t0 = time.perf_counter()
        raw = backend.generate(image, prompt)
        t1 = time.perf_counter()
        try:
            parse_points(raw.text, args.width, args.height)
        except MolmoRosError:
            parse_errors += i >= args.warmup
        parse_ms = (time.perf_counter() - t1) * 1000.0
        if i >= args.warmup:
            total_ms = (t1 - t0) * 1000.0 + parse_ms
            rows.append(
                {"preprocess": raw.preprocess_ms, "model": raw.model_ms, "parse": parse_ms, "total": total_ms}
            )
            new_tokens.append(int(raw.meta["new_tokens"]))

    split = prefill_decode(backend, image, prompt, rows, raw.meta["prompt_tokens"], new_tokens, args)
    real_parse = []
    for _ in range(200):
        t = time.perf_counter()
        parse_points(REAL_ANSWER, args.width, args.height)
        real_parse.append((time.perf_counter() - t) * 1000.0)

    info = backend.describe()
    result = {
        "benchmark": "point query through TransformersPointModel (preprocess -> generate -> parse)",
        "config": "checkpoint" if args.checkpoint else args.config,
        **source,
        "num_parameters": info["num_parameters"],
        "device": info["device"],
        "dtype": info["dtype"],
        "attn_implementation": info["attn_implementation"],
        "gpu": torch.cuda.get_device_name(0) if info["device"].startswith("cuda") else None,
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "image": [args.width, args.height],
        "prompt_tokens": raw.meta["prompt_tokens"],
        "answer_tokens": {
            "forced": args.answer_tokens or None,
            "min": min(new_tokens),
            "max": max(new_tokens),
        },
        "runs": args.runs,
        "warmup": args.warmup,
        "load_s": round(load_s, 2),
        "latency_ms": {
            key: percentiles([row[key] for row in rows]) for key in ("preprocess", "model", "parse", "total")
        },
        "model_ms_per_answer_token_p50": round(
            statistics.median(row["model"] / max(n, 1) for row, n in zip(rows, new_tokens, strict=True)), 3
        ),
        "parse_real_answer_ms_p50": round(statistics.median(real_parse), 4),
        "parse_errors_on_model_text": parse_errors,
        **split,
        "note": "random weights: the answers are meaningless; the compute per token is that of the configuration",
    }
    backend.close()
    return result


if __name__ == "__main__":
    raise SystemExit(main())
