"""Prompt-lookup decoding against transformers' ``generate`` on held-out scenes: the same tokens, how many
passes, how long (one JSON object).

    .venv/bin/python scripts/compare_lookup_decoding.py [--model DIR] [--seeds 1000000:1000020] [--threads 1]

Every evaluation question of each scene (``training.evaluate``), each answered twice per decoding (whole, and
ending after the point tag's opening as ``stop_after_points`` does), in one process.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # training.evaluate and training.data (the scenes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help="checkpoint directory (default: the bundled one)")
    parser.add_argument("--seeds", default="1000000:1000020", help="held-out seed range A:B")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()

    import torch
    from PIL import Image
    from transformers import StoppingCriteriaList

    from molmo_ros.models.lookup_decoding import eos_ids, greedy_answer
    from molmo_ros.models.stopping import PointsEndCriterion, tag_end_token_ids
    from molmo_ros.models.transformers_backend import TransformersPointModel, bundled_model_dir, molmo2_inputs
    from training.data.scenes import SceneRenderer
    from training.evaluate import eval_render_config, questions_for

    backend = TransformersPointModel(
        args.model or bundled_model_dir(), device="cpu", cpu_threads=args.threads
    )
    model, processor = backend._model, backend._processor
    eos = eos_ids(model.generation_config)
    stop_sets = (eos, eos | set(tag_end_token_ids(processor.tokenizer)))
    a, b = (int(v) for v in args.seeds.split(":"))
    same = answers = passes = tokens = 0
    seconds = {"generate": 0.0, "lookup": 0.0}
    with SceneRenderer(eval_render_config()) as renderer, torch.inference_mode():
        for seed in range(a, b):
            scene = next(renderer.scene(seed, views=1))
            picture = Image.fromarray(scene.image)
            for question in questions_for(scene, random.Random(f"eval/{seed}")):
                inputs = molmo2_inputs(processor, picture, question.prompt)
                start = inputs["input_ids"].shape[1]
                for stops in stop_sets:
                    t = time.perf_counter()
                    expected = model.generate(
                        **inputs,
                        max_new_tokens=backend.max_new_tokens,
                        do_sample=False,
                        num_beams=1,
                        stopping_criteria=StoppingCriteriaList([PointsEndCriterion(sorted(stops))]),
                    )[0, start:].tolist()
                    seconds["generate"] += time.perf_counter() - t
                    t = time.perf_counter()
                    got, n = greedy_answer(
                        model,
                        dict(inputs),
                        processor.tokenizer,
                        question.prompt,
                        backend.max_new_tokens,
                        stops,
                    )
                    seconds["lookup"] += time.perf_counter() - t
                    same += got == expected
                    answers, passes, tokens = answers + 1, passes + n, tokens + len(expected)
    backend.close()
    print(
        json.dumps(
            {
                "model": str(args.model or bundled_model_dir()),
                "seeds": args.seeds,
                "threads": args.threads,
                "answers": answers,
                "same_tokens": same,
                "mean_tokens": round(tokens / answers, 2),
                "mean_lookup_passes": round(passes / answers, 2),
                "mean_ms": {k: round(v / answers * 1000, 1) for k, v in seconds.items()},
            }
        )
    )
    return 0 if same == answers else 1


if __name__ == "__main__":
    sys.exit(main())
