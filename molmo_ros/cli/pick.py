"""`molmo-ros pick "the red cup" [--place "the green bowl"]`: the whole pick (or pick and place) in simulation,
as real ROS 2 nodes in one process.

Starts the MuJoCo bridge (molmo_ros.nodes.sim), a point source (the pointer node with a Molmo model, or with
``--oracle`` the simulation's ground truth) and the pick node (/molmo/pick, /molmo/pick_place) on one
multi-threaded executor (:class:`molmo_ros.cli.session.PickSession`); sends the goal and waits for the result.
Writes, into ``--out``: ``camera.png`` (the camera view with the pointed points), ``motion.gif`` (the camera
during the motion) and ``result.json``; prints one JSON line (:mod:`molmo_ros.cli.outcomes`). A pick succeeds
when the object the query names (per ground truth) is lifted and held; a pick and place when every object the
query names ends inside the destination. With ``--place`` the scene is a place layout (a large bowl; with
"all the ..." a sort layout: 2-3 objects of one kind). The parameter files are those of the launch file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from molmo_ros.cli import given_options
from molmo_ros.cli.outcomes import outcome, place_outcome
from molmo_ros.cli.session import PickSession, scene_query, seed_with_object

GIF_WIDTH = 320


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("pick", help="pick up an object in the MuJoCo simulation (ROS 2 nodes)")
    parser.add_argument("query", nargs="?", default="", help='what to pick, e.g. "the red cup"')
    parser.add_argument(
        "--place", default="", help='where to put it, pointed at: "the green bowl" (/molmo/pick_place)'
    )
    parser.add_argument("--max-objects", type=int, default=0, help="with --place: most objects to move")
    parser.add_argument("--seed", type=int, help="scene seed (default: config/sim.yaml's)")
    parser.add_argument("--model", help="checkpoint directory or hub id (default: the bundled checkpoint)")
    parser.add_argument("--oracle", action="store_true", help="point with the simulation's ground truth")
    parser.add_argument(
        "--query-from-scene", action="store_true", help="ask for an object of the seeded scene"
    )
    parser.add_argument("--out", type=Path, default=Path("pick_output"), help="folder for pictures and JSON")
    parser.add_argument("--json", action="store_true", help="print only the JSON line on stdout")
    parser.add_argument(
        "--planner", choices=("embedded", "moveit"), help="motion planner (default: pick.yaml)"
    )
    parser.add_argument("--planner-preset", help="preset of config/planners.yaml")
    parser.add_argument("--width", type=int, help="camera width, pixels (default: sim.yaml)")
    parser.add_argument("--height", type=int, help="camera height, pixels (default: sim.yaml)")
    parser.add_argument(
        "--real-time-factor",
        type=float,
        default=0.0,
        help="simulated s per wall s; 0 (default): as fast as possible",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    parser.add_argument("--no-gif", action="store_true", help="do not record the motion")
    parser.set_defaults(func=run)


def write_pictures(
    session: PickSession, points_3d: list[tuple[Any, str]], caption: str, first_rgb: np.ndarray, out: Path
) -> dict[str, str]:
    """camera.png (the first view with the pointed points: (geometry_msgs/PointStamped, label) each) and
    motion.gif (the camera during the motion)."""
    import cv2
    from PIL import Image as PILImage

    from molmo_ros.pointing import PixelPoint
    from molmo_ros.pointing.drawing import draw_points

    out.mkdir(parents=True, exist_ok=True)
    files = {}
    points = []
    for stamped, label in points_3d:
        p = stamped.point
        if stamped.header.frame_id:
            uv = session.bridge.sim.project_world(np.array([[p.x, p.y, p.z]]))[0]
            if np.all(np.isfinite(uv)):
                points.append(PixelPoint(float(uv[0]), float(uv[1]), label))
    picture = draw_points(first_rgb, points, caption=caption)
    camera_path = out / "camera.png"
    cv2.imwrite(str(camera_path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    files["camera"] = str(camera_path)
    if session.frames:
        scale = GIF_WIDTH / session.frames[0].shape[1]
        size = (GIF_WIDTH, round(session.frames[0].shape[0] * scale))
        images = [PILImage.fromarray(f).resize(size) for f in session.frames]
        gif_path = out / "motion.gif"
        images[0].save(gif_path, save_all=True, append_images=images[1:], duration=100, loop=0)
        files["gif"] = str(gif_path)
    return files


def _failure(query: str, code: str, message: str) -> dict[str, Any]:
    return {"success": False, "query": query, "error": code, "message": message, "timings_ms": {}}


def run(args: argparse.Namespace) -> int:
    from molmo_ros.errors import MolmoRosError
    from molmo_ros.planning.pick_place_goal import wants_all

    def emit(record: dict[str, Any]) -> None:
        print(json.dumps(record))
        sys.stdout.flush()

    if not args.oracle and not args.model:
        try:
            from molmo_ros.models import default_model_path

            default_model_path()
        except MolmoRosError as err:
            emit(
                _failure(
                    args.query, err.code.name, f"{err} (or run with --oracle to point from ground truth)"
                )
            )
            return 1
    if not args.query and not args.query_from_scene:
        print('error: give a query ("the red cup") or --query-from-scene', file=sys.stderr)
        return 2
    sim_overrides: dict[str, Any] = {"real_time_factor": float(args.real_time_factor)}
    if args.place:
        sim_overrides["layout"] = "sort" if wants_all(args.query) else "place"
    if args.seed is None and args.query and not args.query_from_scene:
        sim_overrides["seed"] = seed_with_object(args.query, args.place, sim_overrides.get("layout", "mixed"))
    sim_overrides.update(
        given_options(args, {"seed": "seed", "width": "image_width", "height": "image_height"})
    )
    pick_overrides = {
        k: v for k, v in (("planner", args.planner), ("planner_preset", args.planner_preset)) if v
    }
    pointer_overrides = {"model": args.model} if args.model else {}
    started = time.perf_counter()
    session = PickSession(
        sim_overrides, pick_overrides, pointer_overrides, oracle=args.oracle, record=not args.no_gif
    )
    try:
        session.activate_pointer()
        session.wait_for_camera()
        before = session.scene_state()
        labels = [f"{o.colour} {o.kind}" for o in before.objects]
        query = scene_query(labels, int(before.seed)) if args.query_from_scene else args.query
        first_rgb = session.latest_rgb.copy()

        def feedback(msg: Any) -> None:
            if not args.json:
                f = msg.feedback
                where = f" object {f.object_index} attempt {f.attempt}" if hasattr(f, "attempt") else ""
                print(f"[{f.stage}{where}] {f.detail}", file=sys.stderr)

        goal_began = time.perf_counter()
        if args.place:
            result, _ = session.pick_place(
                query, args.place, args.timeout, feedback, max_objects=args.max_objects
            )
            record = place_outcome(result, before, session.scene_state(), query, args.place)
            pointed = [(o.picked_from, query) for o in result.objects] + [(result.place_target, args.place)]
            caption = f"{query} -> {args.place}"
        else:
            result, _ = session.pick(query, args.timeout, feedback)
            record = outcome(result, session.scene_state(), query)
            pointed, caption = [(result.target, query)], query
        goal_s = time.perf_counter() - goal_began
        record.update(seed=int(before.seed), scene=labels, oracle=bool(args.oracle))
        # wall_s: the whole command (start-up, model, scene); goal_wall_s: the action alone.
        record["wall_s"] = round(time.perf_counter() - started, 1)
        record["goal_wall_s"] = round(goal_s, 1)
        record["files"] = write_pictures(session, pointed, caption, first_rgb, args.out)
        (args.out / "result.json").write_text(json.dumps(record, indent=2))
    except (MolmoRosError, TimeoutError) as err:
        code = err.code.name if isinstance(err, MolmoRosError) else "TIMEOUT"
        record = _failure(args.query, code, str(err))
    finally:
        session.close()
    if not args.json:
        verdict = "done" if record["success"] else "failed"
        if args.place:
            moved = record.get("moved_objects")
            print(f"{verdict}: {record['query']!r} -> {args.place!r}: moved {moved}", file=sys.stderr)
        else:
            print(
                f"{verdict}: {record['query']!r}: lifted {record.get('lifted_object')!r}, "
                f"error {record.get('error')}",
                file=sys.stderr,
            )
    emit(record)
    return 0 if record["success"] else 1
