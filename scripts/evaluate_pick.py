#!/usr/bin/env python3
"""Pick (and pick-and-place) success rate over seeded scenes, with the ground-truth point source (oracle) and
with the model.

    .venv/bin/python scripts/evaluate_pick.py --scenes 50 --out eval_pick
    .venv/bin/python scripts/evaluate_pick.py --scenes 20 --sources model --model path/to/checkpoint
    .venv/bin/python scripts/evaluate_pick.py --tasks place --scenes 50 --sources oracle model
    .venv/bin/python scripts/evaluate_pick.py --tasks all --scenes 20 --sources oracle model

Tasks: "pick" (/molmo/pick, a mixed scene, the query names one of its objects, drawn from the seed as
`molmo-ros pick --query-from-scene`); "place" (/molmo/pick_place in a place scene: one of its small objects
into "the <colour> bowl"); "all" (/molmo/pick_place in a sort scene: "all the <kind>s" into "the bowl", every
one of them must end inside). Success is judged from the simulation's ground truth (molmo_ros.cli.outcomes).
One PickSession (the simulation bridge, the point source and the pick node as real ROS 2 nodes in this
process) per point source; each scene is a ResetScene with seed = first_seed + i. Writes <out>/pick_eval.json
(every goal and per task and source summaries: success rate, failure reasons, mean stage times) and
<out>/pick_eval.png (success rate and failure reasons, matplotlib).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import sys
import time
from pathlib import Path

# A domain of its own (unless one is given): another pick graph on this machine (a second run, a test) would
# otherwise answer this one's goals and services.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(150, 230)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

from tqdm import tqdm

LAYOUTS = {"pick": "mixed", "place": "place", "all": "sort"}


def goal_for(task: str, labels: list[str], seed: int) -> tuple[str, str]:
    """(query, place query) of a scene: one object of it for pick and place, every object of the kind the
    sort scene holds several of for "all"."""
    from molmo_ros.cli.session import scene_query

    if task == "pick":
        return scene_query(labels, seed), ""
    bowl = next(label for label in labels if label.endswith("bowl"))
    small = [label for label in labels if label != bowl]
    if task == "place":
        return scene_query(small, seed), f"the {bowl}"
    kinds = [label.split()[-1] for label in small]
    kind = max(kinds, key=kinds.count)
    return f"all the {kind}s", "the bowl"


def evaluate(source: str, tasks: list[str], args: argparse.Namespace) -> list[dict]:
    from rclpy.parameter import Parameter

    from molmo_ros.cli.outcomes import outcome, place_outcome
    from molmo_ros.cli.session import PickSession
    from molmo_ros.errors import MolmoRosError

    sim = {
        "real_time_factor": 0.0,
        "image_width": args.width,
        "image_height": args.height,
        "seed": args.first_seed,
    }
    pointer = {"model": args.model} if args.model else {}
    if source == "model":
        try:
            if not args.model:
                from molmo_ros.models import default_model_path

                default_model_path()
        except MolmoRosError as err:
            return [
                {"source": source, "task": t, "skipped": f"{err.code.name}: {err}", "picks": []}
                for t in tasks
            ]
    session = PickSession(
        sim, {"planner_preset": args.preset}, pointer, oracle=source == "oracle", record=False
    )
    summaries = []
    try:
        session.activate_pointer()
        for task in tasks:
            session.bridge.set_parameters([Parameter("layout", value=LAYOUTS[task])])
            picks: list[dict] = []
            for i in tqdm(range(args.scenes), desc=f"{source} {task}", file=sys.stderr):
                seed = args.first_seed + i
                session.reset(seed)
                before = session.scene_state()
                labels = [f"{o.colour} {o.kind}" for o in before.objects]
                query, place = goal_for(task, labels, seed)
                began = time.perf_counter()
                try:
                    if task == "pick":
                        result, _ = session.pick(query, args.timeout)
                        record = outcome(result, session.scene_state(), query)
                    else:
                        result, _ = session.pick_place(query, place, args.timeout)
                        record = place_outcome(result, before, session.scene_state(), query, place)
                except TimeoutError as err:
                    record = {"success": False, "query": query, "error": "TIMEOUT", "message": str(err)}
                record.update(seed=seed, scene=labels, wall_s=round(time.perf_counter() - began, 1))
                if not record["success"] and record.get("error") is None:
                    if task == "pick":
                        record["error"] = "WRONG_OBJECT" if record.get("lifted_object") else "NOT_LIFTED"
                    else:
                        record["error"] = "WRONG_OBJECT" if record.get("wrongly_moved") else "NOT_PLACED"
                picks.append(record)
                # Written after every goal: a run that stops early keeps what it measured.
                partial = args.out / f"partial_{source}_{task}.json"
                partial.write_text(json.dumps(summarize(source, task, picks), indent=2))
            summaries.append(summarize(source, task, picks))
    finally:
        session.close()
    return summaries


def summarize(source: str, task: str, picks: list[dict]) -> dict:
    successes = sum(p["success"] for p in picks)
    reasons = collections.Counter(p["error"] for p in picks if not p["success"])
    stages = collections.defaultdict(list)
    for p in picks:
        for stage, ms in p.get("timings_ms", {}).items():
            stages[stage].append(ms)
    return {
        "source": source,
        "task": task,
        "scenes": len(picks),
        "successes": successes,
        "success_rate": successes / len(picks) if picks else 0.0,
        "failure_reasons": dict(reasons),
        "mean_stage_ms": {k: round(sum(v) / len(v), 1) for k, v in stages.items()},
        "mean_wall_s": round(sum(p["wall_s"] for p in picks) / len(picks), 1) if picks else 0.0,
        "picks": picks,
    }


def plot(summaries: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [s for s in summaries if s.get("scenes")]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    names = [f"{s['task']}\n{s['source']}" for s in done]
    axes[0].bar(names, [100 * s["success_rate"] for s in done], color="tab:green")
    axes[0].set_ylim(0, 100)
    axes[0].set_ylabel("success (%)")
    axes[0].set_title(
        ", ".join(f"{s['task']} {s['source']}: {s['successes']}/{s['scenes']}" for s in done) or "no runs",
        fontsize=8,
    )
    reasons = sorted({r for s in done for r in s["failure_reasons"]})
    width = 0.8 / max(len(done), 1)
    for k, s in enumerate(done):
        axes[1].bar(
            [i + k * width for i in range(len(reasons))],
            [s["failure_reasons"].get(r, 0) for r in reasons],
            width,
            label=f"{s['task']} {s['source']}",
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
    parser.add_argument("--tasks", nargs="+", default=["pick"], choices=tuple(LAYOUTS))
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
        summaries.extend(evaluate(source, args.tasks, args))
        (args.out / "pick_eval.json").write_text(json.dumps(summaries, indent=2))
    plot(summaries, args.out / "pick_eval.png")
    for s in summaries:
        line = {k: v for k, v in s.items() if k != "picks"}
        print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
