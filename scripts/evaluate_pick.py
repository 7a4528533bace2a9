#!/usr/bin/env python3
"""Pick success rate over seeded scenes, with the ground-truth point source (oracle) and with the model.

    .venv/bin/python scripts/evaluate_pick.py --scenes 50 --out eval_pick
    .venv/bin/python scripts/evaluate_pick.py --scenes 20 --sources model --model path/to/checkpoint

One PickSession (the simulation bridge, the point source and the pick node as real ROS 2 nodes in this
process) per point source; each scene is a ResetScene with seed = first_seed + i, and the query names one of
its objects (drawn from the seed, as `molmo-ros pick --query-from-scene`). Writes <out>/pick_eval.json
(every pick and per-source summaries: success rate, failure reasons, mean stage times) and
<out>/pick_eval.png (success rate and failure reasons per source, matplotlib).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm


def evaluate(source: str, args: argparse.Namespace) -> dict:
    from molmo_ros.cli.outcomes import outcome
    from molmo_ros.cli.session import PickSession, scene_query
    from molmo_ros.errors import MolmoRosError

    sim = {
        "real_time_factor": 0.0,
        "image_width": args.width,
        "image_height": args.height,
        "seed": args.first_seed,
    }
    pointer = {"model": args.model} if args.model else {}
    picks: list[dict] = []
    if source == "model":
        try:
            if not args.model:
                from molmo_ros.models import default_model_path

                default_model_path()
        except MolmoRosError as err:
            return {"source": source, "skipped": f"{err.code.name}: {err}", "picks": []}
    session = PickSession(
        sim, {"planner_preset": args.preset}, pointer, oracle=source == "oracle", record=False
    )
    try:
        session.activate_pointer()
        for i in tqdm(range(args.scenes), desc=source, file=sys.stderr):
            seed = args.first_seed + i
            reset = session.reset(seed)
            labels = [f"{o.colour} {o.kind}" for o in reset.objects]
            query = scene_query(labels, seed)
            began = time.perf_counter()
            try:
                result, _ = session.pick(query, args.timeout)
                record = outcome(result, session.scene_state(), query)
            except TimeoutError as err:
                record = {"success": False, "query": query, "error": "TIMEOUT", "message": str(err)}
            record.update(seed=seed, scene=labels, wall_s=round(time.perf_counter() - began, 1))
            if not record["success"] and record.get("error") is None:
                record["error"] = "WRONG_OBJECT" if record.get("lifted_object") else "NOT_LIFTED"
            picks.append(record)
    finally:
        session.close()
    return summarize(source, picks)


def summarize(source: str, picks: list[dict]) -> dict:
    successes = sum(p["success"] for p in picks)
    reasons = collections.Counter(p["error"] for p in picks if not p["success"])
    stages = collections.defaultdict(list)
    for p in picks:
        for stage, ms in p.get("timings_ms", {}).items():
            stages[stage].append(ms)
    return {
        "source": source,
        "scenes": len(picks),
        "successes": successes,
        "success_rate": successes / len(picks) if picks else 0.0,
        "failure_reasons": dict(reasons),
        "mean_stage_ms": {k: round(sum(v) / len(v), 1) for k, v in stages.items()},
        "picks": picks,
    }


def plot(summaries: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [s for s in summaries if s.get("scenes")]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].bar([s["source"] for s in done], [100 * s["success_rate"] for s in done], color="tab:green")
    axes[0].set_ylim(0, 100)
    axes[0].set_ylabel("pick success (%)")
    axes[0].set_title(", ".join(f"{s['source']}: {s['successes']}/{s['scenes']}" for s in done) or "no runs")
    reasons = sorted({r for s in done for r in s["failure_reasons"]})
    width = 0.8 / max(len(done), 1)
    for k, s in enumerate(done):
        axes[1].bar(
            [i + k * width for i in range(len(reasons))],
            [s["failure_reasons"].get(r, 0) for r in reasons],
            width,
            label=s["source"],
        )
    axes[1].set_xticks([i + 0.4 - width / 2 for i in range(len(reasons))], reasons, rotation=30, ha="right")
    axes[1].set_ylabel("failed picks")
    axes[1].set_title("failure reasons")
    if done:
        axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenes", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--sources", nargs="+", default=["oracle", "model"], choices=("oracle", "model"))
    parser.add_argument("--model", help="checkpoint for the model source (default: the bundled one)")
    parser.add_argument("--preset", default="default", help="planner preset (config/planners.yaml)")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--out", type=Path, default=Path("eval_pick"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    summaries = []
    for source in args.sources:
        summaries.append(evaluate(source, args))
        (args.out / "pick_eval.json").write_text(json.dumps(summaries, indent=2))
    plot(summaries, args.out / "pick_eval.png")
    for s in summaries:
        line = {k: v for k, v in s.items() if k != "picks"}
        print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
