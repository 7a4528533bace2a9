"""The simulation's configuration: one typed view of ``config/sim.yaml`` (a ROS 2 parameter file).

The file is the single source of defaults. The bridge node gets the same values as ROS parameters; the CLI,
the benchmark and the tests read the file through :func:`load_sim_config`. No field has a default here, so a
key missing from the file is an error rather than a silently different simulation.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from molmo_ros.config import config_path, node_parameters
from molmo_ros.geometry import RigidTransform, look_at
from molmo_ros.sim.errors import SimError

NODE_NAME = "sim_bridge"
CONFIG_NAME = "sim.yaml"
DEPTH_ENCODINGS = ("32FC1", "16UC1")
#: What a scene holds (``layout``): "mixed": 2-6 objects of distinct colour and kind; "place": one large bowl
#: to put things in and 1-5 small objects (no other bowl); "sort": a large bowl, 2-3 objects of one kind
#: (distinct colours) and 0-2 of other kinds. Drawn by molmo_ros.sim.layout.sample_layout.
LAYOUTS = ("mixed", "place", "sort")


@dataclass(frozen=True)
class SimConfig:
    """Every parameter of ``config/sim.yaml`` (see the file for meaning and units)."""

    seed: int
    layout: str
    num_objects: int
    min_objects: int
    max_objects: int
    workspace_x: tuple[float, float]
    workspace_y: tuple[float, float]
    object_clearance: float
    timestep: float
    settle_time: float
    gripper_force: float
    lift_height: float
    real_time_factor: float
    camera_name: str
    camera_position: tuple[float, float, float]
    camera_target: tuple[float, float, float]
    camera_fovy: float
    image_width: int
    image_height: int
    camera_rate: float
    camera_rate_moving: float
    depth_encoding: str
    render_shadows: bool
    joint_state_rate: float
    world_frame: str
    camera_frame: str
    color_topic: str
    depth_topic: str
    camera_info_topic: str
    joint_states_topic: str
    clock_topic: str
    trajectory_topic: str
    gripper_service: str
    reset_service: str
    state_service: str
    cache_dir: str

    def __post_init__(self) -> None:
        # Coerce YAML / ROS parameter values (lists, ints for floats) to the declared types.
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            kind = str(field.type)
            try:
                if kind.startswith("tuple"):
                    value = tuple(float(v) for v in value)
                elif kind == "bool":
                    if not isinstance(value, bool):
                        raise TypeError(f"{value!r} is not true or false")
                elif kind == "int":
                    value = int(value)
                elif kind == "float":
                    value = float(value)
                else:
                    value = str(value)
            except (TypeError, ValueError) as exc:
                raise SimError(f"sim config: {field.name}={value!r} is not a {kind}") from exc
            object.__setattr__(self, field.name, value)
        problems = validate(dataclasses.asdict(self))
        if problems:
            raise SimError("sim config: " + "; ".join(problems))

    def replace(self, **changes: Any) -> SimConfig:
        return dataclasses.replace(self, **changes)

    def camera_pose(self) -> RigidTransform:
        """The camera's optical frame in ``world_frame`` (the simulator's camera, computed without MuJoCo)."""
        return look_at(self.camera_position, self.camera_target, self.world_frame, self.camera_frame)

    @property
    def resolved_cache_dir(self) -> Path:
        """Folder for generated MJCF files: ``cache_dir`` or ``$XDG_CACHE_HOME/molmo_ros/sim``."""
        if self.cache_dir:
            return Path(self.cache_dir).expanduser()
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "molmo_ros" / "sim"


def _lengths(values: Mapping[str, Any], name: str, n: int) -> str | None:
    value = values.get(name)
    if value is None:
        return None
    if len(value) != n:
        return f"{name} needs {n} values, got {len(value)}"
    return None


def validate(values: Mapping[str, Any]) -> list[str]:
    """Reasons why these (possibly partial) parameter values are unusable; empty when they are fine.

    Shared with the bridge node's set-parameters callback, so both reject the same values.
    """
    problems: list[str] = []

    def check(name: str, ok: Any, reason: str) -> None:
        if name in values and not ok(values[name]):
            problems.append(f"{name}={values[name]!r}: {reason}")

    check("timestep", lambda v: 0.0 < v <= 0.002, "must be in (0, 0.002] s (physics at >= 500 Hz)")
    check("layout", lambda v: v in LAYOUTS, f"must be one of {LAYOUTS}")
    check("num_objects", lambda v: v == 0 or 1 <= v <= 6, "must be 0 (seed decides) or 1-6")
    check("min_objects", lambda v: 1 <= v <= 6, "must be 1-6")
    check("max_objects", lambda v: 1 <= v <= 6, "must be 1-6")
    check("settle_time", lambda v: v >= 0.0, "must be >= 0 s")
    check("gripper_force", lambda v: 0.0 < v <= 140.0, "must be in (0, 140] N (the Franka hand's peak)")
    check("lift_height", lambda v: v > 0.0, "must be > 0 m")
    check("real_time_factor", lambda v: v >= 0.0, "must be >= 0 (0: as fast as possible)")
    check("camera_fovy", lambda v: 1.0 <= v <= 170.0, "must be in [1, 170] deg")
    check("image_width", lambda v: 16 <= v <= 4096, "must be 16-4096 px")
    check("image_height", lambda v: 16 <= v <= 4096, "must be 16-4096 px")
    check("camera_rate", lambda v: v > 0.0, "must be > 0 Hz")
    check("camera_rate_moving", lambda v: v >= 0.0, "must be >= 0 Hz (0: camera_rate)")
    check("joint_state_rate", lambda v: v > 0.0, "must be > 0 Hz")
    check("object_clearance", lambda v: v >= 0.0, "must be >= 0 m")
    check("depth_encoding", lambda v: v in DEPTH_ENCODINGS, f"must be one of {DEPTH_ENCODINGS}")
    for name in ("workspace_x", "workspace_y"):
        problems.append(_lengths(values, name, 2) or "")
        check(name, lambda v: len(v) != 2 or v[0] < v[1], "must be [low, high] with low < high")
    for name in ("camera_position", "camera_target"):
        problems.append(_lengths(values, name, 3) or "")
    if "min_objects" in values and "max_objects" in values and values["min_objects"] > values["max_objects"]:
        problems.append("min_objects must not exceed max_objects")
    for name in (
        "color_topic",
        "depth_topic",
        "camera_info_topic",
        "joint_states_topic",
        "clock_topic",
        "trajectory_topic",
        "gripper_service",
        "reset_service",
        "state_service",
        "camera_name",
        "world_frame",
        "camera_frame",
    ):
        check(name, lambda v: bool(v), "must not be empty")
    return [p for p in problems if p]


def load_parameters(path: Path | None = None, node_name: str = NODE_NAME) -> dict[str, Any]:
    """The ``<node_name>: ros__parameters:`` mapping of `path` (default: the package's config/sim.yaml)."""
    try:
        return node_parameters(Path(path) if path else config_path(CONFIG_NAME), node_name)
    except (OSError, KeyError, yaml.YAMLError) as exc:
        raise SimError(f"cannot read the simulation parameters: {exc}") from exc


def from_parameters(values: Mapping[str, Any]) -> SimConfig:
    """Build a SimConfig from parameter values; unknown keys are ignored, missing ones are an error."""
    names = [f.name for f in dataclasses.fields(SimConfig)]
    missing = [n for n in names if n not in values]
    if missing:
        raise SimError(f"sim config: missing parameters {missing}")
    return SimConfig(**{n: values[n] for n in names})


def load_sim_config(path: Path | None = None, **overrides: Any) -> SimConfig:
    """``config/sim.yaml`` (or `path`) as a SimConfig, with keyword overrides (e.g. ``seed=7``)."""
    values = load_parameters(path)
    values.update(overrides)
    return from_parameters(values)
