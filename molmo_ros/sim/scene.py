"""Scene files: MJCF for a layout, including the Panda robot file (MuJoCo Menagerie's robot + scene split).

The scene file adds physics options, the table, lights, the fixed RGB-D camera, the objects (each a free body
with separate visual and collision geoms) and a ``home`` keyframe. Files are written into a cache folder at run
time because the robot file points at the meshes of the installed example-robot-data package.
"""

from __future__ import annotations

import hashlib
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from molmo_ros.geometry import look_at
from molmo_ros.sim import robot
from molmo_ros.sim.catalogue import COLOURS
from molmo_ros.sim.config import SimConfig
from molmo_ros.sim.layout import TABLE_HALF_Y, TABLE_HEIGHT, TABLE_TOP_Z, TABLE_X, PlacedObject, SceneLayout

TABLE_BODY = "table"


def _fmt(values: Sequence[float]) -> str:
    return " ".join(f"{float(v):.6g}" for v in values)


def look_at_xyaxes(position: Sequence[float], target: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """MuJoCo camera axes (x right, y up; the camera looks along -z) for a camera at `position` aimed at `target`:
    the x and y axes (3,) in the world frame of :func:`molmo_ros.geometry.look_at`'s optical frame (its y flips)."""
    matrix = look_at(position, target, "world", "camera").rotation.as_matrix()
    return matrix[:, 0], -matrix[:, 1]


def _yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    """MuJoCo quaternion (w, x, y, z) of a rotation by `yaw` rad about z."""
    return (math.cos(0.5 * yaw), 0.0, 0.0, math.sin(0.5 * yaw))


def _defaults(root: ET.Element) -> None:
    default = ET.SubElement(root, "default")
    scene = ET.SubElement(default, "default", {"class": "scene"})
    visual = ET.SubElement(scene, "default", {"class": "scene_visual"})
    # Visual geoms neither collide nor weigh anything (density 0): the collision twins carry the mass.
    ET.SubElement(visual, "geom", contype="0", conaffinity="0", group="2", density="0")
    collision = ET.SubElement(scene, "default", {"class": "scene_collision"})
    # Stiffer than the default contact (solimp, solref), so thin walls do not give way under a 40 N pinch.
    ET.SubElement(
        collision,
        "geom",
        group="3",
        friction="1 0.005 0.0001",
        condim="4",
        solimp="0.95 0.99 0.001",
        solref="0.005 1",
    )


def _assets(root: ET.Element) -> None:
    asset = ET.SubElement(root, "asset")
    ET.SubElement(
        asset,
        "texture",
        name="skybox",
        type="skybox",
        builtin="gradient",
        rgb1="0.85 0.88 0.92",
        rgb2="0.45 0.5 0.58",
        width="256",
        height="256",
    )
    ET.SubElement(
        asset,
        "texture",
        name="floor",
        type="2d",
        builtin="checker",
        rgb1="0.32 0.33 0.35",
        rgb2="0.26 0.27 0.29",
        width="256",
        height="256",
    )
    ET.SubElement(asset, "material", name="floor", texture="floor", texrepeat="6 6")
    ET.SubElement(asset, "material", name="table", rgba="0.72 0.6 0.46 1", specular="0.1", shininess="0.1")
    for colour, rgba in COLOURS.items():
        ET.SubElement(
            asset, "material", name=f"object_{colour}", rgba=_fmt(rgba), specular="0.3", shininess="0.4"
        )


def _table(worldbody: ET.Element) -> None:
    ET.SubElement(
        worldbody,
        "geom",
        {
            "name": "floor",
            "type": "plane",
            "size": "3 3 0.05",
            "pos": f"0 0 {TABLE_TOP_Z - TABLE_HEIGHT:g}",
            "material": "floor",
            "class": "scene_collision",
            "group": "0",
        },
    )
    body = ET.SubElement(worldbody, "body", name=TABLE_BODY, childclass="scene")
    half = (0.5 * (TABLE_X[1] - TABLE_X[0]), TABLE_HALF_Y, 0.025)
    pos = (0.5 * (TABLE_X[0] + TABLE_X[1]), 0.0, TABLE_TOP_Z - half[2])
    for cls in ("scene_visual", "scene_collision"):
        ET.SubElement(
            body,
            "geom",
            {
                "name": f"table_top_{cls.split('_')[1]}",
                "class": cls,
                "type": "box",
                "size": _fmt(half),
                "pos": _fmt(pos),
                "material": "table",
            },
        )
    leg_half = (0.025, 0.025, 0.5 * (TABLE_HEIGHT - 2 * half[2]))
    for i, (sx, sy) in enumerate(((1, 1), (1, -1), (-1, 1), (-1, -1))):
        leg_pos = (
            pos[0] + sx * (half[0] - 0.05),
            sy * (half[1] - 0.05),
            TABLE_TOP_Z - 2 * half[2] - leg_half[2],
        )
        ET.SubElement(
            body,
            "geom",
            {
                "name": f"table_leg{i}",
                "class": "scene_visual",
                "type": "box",
                "size": _fmt(leg_half),
                "pos": _fmt(leg_pos),
                "material": "table",
            },
        )


def _lights(worldbody: ET.Element) -> None:
    # One shadow-casting key light from above the camera side, one soft fill: enough shading to tell shapes
    # apart without hard, expensive shadows everywhere.
    ET.SubElement(
        worldbody,
        "light",
        name="key",
        pos="0.6 -0.5 2.0",
        dir="-0.1 0.25 -1",
        directional="true",
        castshadow="true",
        diffuse="0.55 0.55 0.55",
        specular="0.2 0.2 0.2",
    )
    ET.SubElement(
        worldbody,
        "light",
        name="fill",
        pos="0.3 0.8 1.4",
        dir="0.1 -0.5 -1",
        directional="true",
        castshadow="false",
        diffuse="0.35 0.35 0.35",
        specular="0 0 0",
    )


def _camera(worldbody: ET.Element, config: SimConfig) -> None:
    x_axis, y_axis = look_at_xyaxes(config.camera_position, config.camera_target)
    ET.SubElement(
        worldbody,
        "camera",
        name=config.camera_name,
        mode="fixed",
        pos=_fmt(config.camera_position),
        xyaxes=_fmt([*x_axis, *y_axis]),
        fovy=f"{config.camera_fovy:g}",
    )


def _object(worldbody: ET.Element, obj: PlacedObject) -> None:
    body = ET.SubElement(
        worldbody,
        "body",
        name=obj.name,
        pos=_fmt(obj.position),
        quat=_fmt(_yaw_quat(obj.yaw)),
        childclass="scene",
    )
    ET.SubElement(body, "freejoint", name=f"{obj.name}_joint")
    for k, prim in enumerate(obj.shape.primitives):
        geometry = {
            "type": prim.type,
            "size": _fmt(prim.size),
            "pos": _fmt(prim.pos),
            "quat": _fmt(prim.quat),
        }
        ET.SubElement(
            body,
            "geom",
            {
                "name": f"{obj.name}_visual{k}",
                "class": "scene_visual",
                "material": f"object_{obj.colour}",
                **geometry,
            },
        )
        ET.SubElement(
            body,
            "geom",
            {
                "name": f"{obj.name}_collision{k}",
                "class": "scene_collision",
                "density": f"{obj.shape.density:g}",
                **geometry,
            },
        )


def _keyframe(root: ET.Element, layout: SceneLayout) -> None:
    qpos: list[float] = [*robot.HOME_ARM, robot.FINGER_OPEN, robot.FINGER_OPEN]
    for obj in layout.objects:
        qpos += [*obj.position, *_yaw_quat(obj.yaw)]
    ctrl = [*robot.HOME_ARM, robot.FINGER_OPEN]
    keyframe = ET.SubElement(root, "keyframe")
    ET.SubElement(keyframe, "key", name="home", qpos=_fmt(qpos), ctrl=_fmt(ctrl))


def scene_mjcf(layout: SceneLayout, config: SimConfig, robot_file_name: str) -> str:
    """The scene file (MJCF text) for `layout`, including the robot file `robot_file_name` (same folder)."""
    root = ET.Element(
        "mujoco", model=f"tabletop_seed{layout.seed}" if layout.seed is not None else "tabletop"
    )
    ET.SubElement(root, "include", file=robot_file_name)
    ET.SubElement(root, "compiler", angle="radian", autolimits="true")
    # implicitfast + elliptic cones with a high impratio: stable, non-slipping pinch grasps at a 2 ms step.
    ET.SubElement(
        root,
        "option",
        timestep=f"{config.timestep:g}",
        integrator="implicitfast",
        cone="elliptic",
        impratio="10",
    )
    # extent sets the clipping planes (znear = 0.01 x extent): 2 m keeps near at 2 cm, far at 100 m.
    ET.SubElement(root, "statistic", center="0.4 0 0.2", extent="2")
    visual = ET.SubElement(root, "visual")
    ET.SubElement(
        visual,
        "global",
        offwidth=str(max(config.image_width, 640)),
        offheight=str(max(config.image_height, 480)),
    )
    ET.SubElement(visual, "quality", shadowsize="2048")
    ET.SubElement(visual, "headlight", ambient="0.25 0.25 0.25", diffuse="0.3 0.3 0.3", specular="0 0 0")
    _defaults(root)
    _assets(root)
    worldbody = ET.SubElement(root, "worldbody")
    _table(worldbody)
    _lights(worldbody)
    _camera(worldbody, config)
    for obj in layout.objects:
        _object(worldbody, obj)
    _keyframe(root, layout)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def write_scene(layout: SceneLayout, config: SimConfig, cache_dir: Path | None = None) -> Path:
    """Write the robot file (once) and the scene file for `layout` into the cache folder; return the scene path."""
    folder = Path(cache_dir) if cache_dir is not None else config.resolved_cache_dir
    robot_path = robot.robot_file(folder)
    text = scene_mjcf(layout, config, robot_path.name)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = folder / f"scene_{digest}.xml"
    if not path.is_file():
        tmp = path.with_suffix(f".{id(text)}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path
