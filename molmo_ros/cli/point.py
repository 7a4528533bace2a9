"""`molmo-ros point IMAGE QUERY`: one point query on one picture, without ROS.

Writes the picture with the points drawn on it; with --depth and --intrinsics it also lifts the points to
3D in the camera's optical frame. --json prints one JSON object (text, points, latency_ms, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from molmo_ros.errors import ErrorCode, MolmoRosError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("point", help="point to an object in one picture (no ROS needed)")
    parser.add_argument("image", type=Path, help="picture file (PNG, JPEG ...)")
    parser.add_argument("query", help='what to point to, e.g. "the red cup"')
    add_model_arguments(parser)
    parser.add_argument("--count", action="store_true", help="count the objects instead of pointing")
    parser.add_argument("--depth", type=Path, help="depth image: .npy (metres) or 16-bit PNG (millimetres)")
    parser.add_argument(
        "--intrinsics", help="fx,fy,cx,cy in pixels (pixel centres at integers); with --depth"
    )
    parser.add_argument("--out", type=Path, help="annotated picture (default: <image>_points.png here)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Model options shared by the commands that load a model (defaults: config/point.yaml)."""
    parser.add_argument("--model", help="checkpoint directory or hub id (default: the bundled checkpoint)")
    parser.add_argument("--backend", choices=("transformers", "openai"), help="model backend")
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--dtype", help="auto, float32, bfloat16 or float16")
    parser.add_argument("--trust-remote-code", action="store_true", help="allow checkpoint code (Molmo v1)")
    parser.add_argument("--server-url", help="openai backend: server base URL")


def load_model_from_args(args: argparse.Namespace):
    """A PointModel from command-line options, falling back to the pointer node's YAML defaults."""
    from molmo_ros.config import config_path, node_parameters
    from molmo_ros.models import load_from_parameters

    p = node_parameters(config_path("point.yaml"), "molmo_pointer")
    given = {
        "backend": args.backend,
        "model": args.model,
        "server_url": args.server_url,
        "device": args.device,
        "dtype": args.dtype,
        "trust_remote_code": args.trust_remote_code or None,
    }
    return load_from_parameters({**p, **{k: v for k, v in given.items() if v is not None and v != ""}})


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise MolmoRosError(f"cannot read a picture from {path}", ErrorCode.INVALID_REQUEST)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_depth_m(path: Path) -> np.ndarray:
    """(H, W) float32 metres from a .npy (metres) or a 16-bit PNG (millimetres)."""
    import cv2

    from molmo_ros.geometry import depth_to_meters

    if path.suffix == ".npy":
        return depth_to_meters(np.load(path).astype(np.float32), "32FC1")
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.dtype != np.uint16 or raw.ndim != 2:
        raise MolmoRosError(f"{path} is not a 16-bit single-channel PNG", ErrorCode.UNSUPPORTED_ENCODING)
    return depth_to_meters(raw, "16UC1")


def run(args: argparse.Namespace) -> int:
    import cv2

    from molmo_ros.geometry import CameraIntrinsics, RigidTransform
    from molmo_ros.pointing import parse_points
    from molmo_ros.pointing.drawing import draw_points
    from molmo_ros.pointing.frames import RgbdFrame
    from molmo_ros.pointing.query import answer_point_query, build_prompt

    try:
        rgb = read_rgb(args.image)
        start = time.perf_counter()
        model = load_model_from_args(args)
        load_ms = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        if args.depth is not None:
            if not args.intrinsics:
                raise MolmoRosError("--depth needs --intrinsics fx,fy,cx,cy", ErrorCode.INVALID_REQUEST)
            fx, fy, cx, cy = (float(v) for v in args.intrinsics.split(","))
            height, width = rgb.shape[:2]
            intrinsics = CameraIntrinsics(fx, fy, cx, cy, width, height)
            frame = RgbdFrame(rgb, read_depth_m(args.depth), 0, "camera", intrinsics)
            result = answer_point_query(
                model, frame, args.query, RigidTransform.identity("camera"), count=args.count
            )
            text, points, error = result.text, result.pixel_points, result.error
            valid, xyz = result.depth_valid, result.points_3d
        else:
            raw = model.generate(rgb, build_prompt(args.query, args.count, 200))
            answer = parse_points(raw.text, rgb.shape[1], rgb.shape[0])
            text, points, valid, xyz = raw.text, answer.points, None, None
            error = None if answer.points else MolmoRosError("no point in the answer", ErrorCode.NOT_FOUND)
        latency_ms = (time.perf_counter() - start) * 1e3
    except MolmoRosError as err:
        print(json.dumps({"error": err.code.name, "message": str(err)}) if args.json else f"error: {err}")
        return 1
    finally:
        if "model" in locals():
            model.close()

    out = args.out or Path(f"{args.image.stem}_points.png")
    picture = draw_points(rgb, points, valid, caption=args.query)
    cv2.imwrite(str(out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    report = {
        "query": args.query,
        "text": text,
        "points": [{"x": p.x, "y": p.y, "label": p.label} for p in points],
        "latency_ms": round(latency_ms, 2),
        "load_ms": round(load_ms, 1),
        "error": None if error is None else error.code.name,
        "image": str(out),
    }
    if xyz is not None:
        report["points_3d"] = [
            {"x": float(p[0]), "y": float(p[1]), "z": float(p[2]), "valid": bool(ok)}
            for p, ok in zip(xyz, valid, strict=True)
        ]
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.query!r}: {text!r}")
        for point in report["points"]:
            print(f"  ({point['x']:.1f}, {point['y']:.1f}) {point['label']}")
        print(f"{latency_ms:.0f} ms; picture: {out}")
        if error is not None:
            print(f"error: {error}", file=sys.stderr)
    return 0 if error is None else 1
