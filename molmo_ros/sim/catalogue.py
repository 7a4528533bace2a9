"""The object catalogue: kinds of tabletop objects, their shapes as MuJoCo primitives, and the named colours.

Every kind is sized so the Panda hand (8 cm opening) can pinch it across its body: the grasp width stays below
6.5 cm. Shapes are built from primitives (boxes, cylinders, spheres) because MuJoCo collides primitives exactly and
fast; hollow shapes (cup, mug, bowl) are a bottom disc plus a ring of wall segments.

Object frames: z up, the origin on the object's vertical axis (where the hand grasps it) at half its height, so
an object at rest on the table has its origin at table height + height / 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

#: Named colours (RGBA, 0-1); the names are what the model is asked about ("the red cup").
COLOURS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.08, 0.08, 1.0),
    "green": (0.10, 0.62, 0.18, 1.0),
    "blue": (0.10, 0.28, 0.85, 1.0),
    "yellow": (0.95, 0.85, 0.10, 1.0),
    "orange": (1.00, 0.50, 0.05, 1.0),
    "purple": (0.50, 0.18, 0.72, 1.0),
    "pink": (1.00, 0.48, 0.72, 1.0),
    "cyan": (0.10, 0.78, 0.85, 1.0),
    "white": (0.96, 0.96, 0.96, 1.0),
    "black": (0.07, 0.07, 0.07, 1.0),
}

#: The widest grasp the catalogue allows (m): the hand opens 8 cm, leaving margin on both sides.
MAX_GRASP_WIDTH = 0.065


@dataclass(frozen=True)
class Primitive:
    """One MuJoCo geom of an object, in the object frame.

    type: "box" (size = half extents x, y, z), "cylinder" (radius, half height), "sphere" (radius);
    pos (3,) m; quat (4,) w, x, y, z (MuJoCo order).
    """

    type: str
    size: tuple[float, ...]
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Shape:
    """The geometry of one object instance.

    primitives: its geoms; extents: bounding-box size (x, y, z) in m; footprint_radius: radius (m) of the circle
    around the origin that contains the object seen from above (used to place objects without overlap);
    grasp_width: the width (m) across which the hand pinches it; density: kg/m^3.
    """

    primitives: tuple[Primitive, ...]
    extents: tuple[float, float, float]
    footprint_radius: float
    grasp_width: float
    density: float

    @property
    def height(self) -> float:
        return self.extents[2]


def _quat(rotation: Rotation) -> tuple[float, float, float, float]:
    x, y, z, w = rotation.as_quat()  # scipy is scalar-last; MuJoCo is scalar-first
    return (float(w), float(x), float(y), float(z))


def _ring(
    bottom_radius: float, top_radius: float, z0: float, z1: float, thickness: float, segments: int
) -> list[Primitive]:
    """Wall segments of a (possibly flared) hollow cylinder between heights z0 and z1 (object frame)."""
    mean_radius = 0.5 * (bottom_radius + top_radius)
    tilt = math.atan2(top_radius - bottom_radius, z1 - z0)
    slant = math.hypot(top_radius - bottom_radius, z1 - z0)
    # Segments slightly wider than the arc they cover, so the wall has no gaps.
    half_width = mean_radius * math.tan(math.pi / segments) * 1.05
    walls = []
    for k in range(segments):
        theta = 2.0 * math.pi * k / segments
        centre_r = mean_radius - 0.5 * thickness * math.cos(tilt)
        pos = (centre_r * math.cos(theta), centre_r * math.sin(theta), 0.5 * (z0 + z1))
        # Yaw to the segment's angle, then lean the wall outward by the flare angle.
        rotation = Rotation.from_euler("ZY", [theta, tilt])
        walls.append(Primitive("box", (0.5 * thickness, half_width, 0.5 * slant), pos, _quat(rotation)))
    return walls


def block(rng: np.random.Generator) -> Shape:
    half = float(rng.uniform(0.02, 0.025))
    return Shape(
        (Primitive("box", (half, half, half)),), (2 * half,) * 3, half * math.sqrt(2), 2 * half, 400.0
    )


def ball(rng: np.random.Generator) -> Shape:
    radius = float(rng.uniform(0.025, 0.03))
    return Shape((Primitive("sphere", (radius,)),), (2 * radius,) * 3, radius, 2 * radius, 300.0)


def can(rng: np.random.Generator) -> Shape:
    radius = float(rng.uniform(0.028, 0.031))
    half_height = float(rng.uniform(0.05, 0.06))
    return Shape(
        (Primitive("cylinder", (radius, half_height)),),
        (2 * radius, 2 * radius, 2 * half_height),
        radius,
        2 * radius,
        400.0,
    )


def _cup_body(radius: float, height: float, thickness: float = 0.006) -> list[Primitive]:
    bottom = Primitive("cylinder", (radius, 0.5 * thickness), (0.0, 0.0, -0.5 * height + 0.5 * thickness))
    return [bottom, *_ring(radius, radius, -0.5 * height + thickness, 0.5 * height, thickness, 12)]


def cup(rng: np.random.Generator) -> Shape:
    radius = float(rng.uniform(0.028, 0.031))
    height = float(rng.uniform(0.08, 0.1))
    return Shape(
        tuple(_cup_body(radius, height)), (2 * radius, 2 * radius, height), radius, 2 * radius, 900.0
    )


#: A mug's last primitives are its handle (two arms and the grip): the only part that tells it from a cup.
MUG_HANDLE_PRIMITIVES = 3


def mug(rng: np.random.Generator) -> Shape:
    radius = float(rng.uniform(0.028, 0.031))
    height = float(rng.uniform(0.08, 0.095))
    reach = 0.022  # how far the handle stands out from the wall (m)
    bar = 0.005  # handle half thickness (m)
    handle_height = 0.5 * height
    handle = [
        # Two arms from the wall and the grip joining them, on the +x side.
        Primitive("box", (0.5 * reach, bar, bar), (radius + 0.5 * reach, 0.0, 0.5 * handle_height - bar)),
        Primitive("box", (0.5 * reach, bar, bar), (radius + 0.5 * reach, 0.0, -0.5 * handle_height + bar)),
        Primitive("box", (bar, bar, 0.5 * handle_height), (radius + reach - bar, 0.0, 0.0)),
    ]
    assert len(handle) == MUG_HANDLE_PRIMITIVES
    # The bounding box is not centred on the cup axis; the origin stays on the axis (where it is grasped).
    extents = (2 * radius + reach, 2 * radius, height)
    return Shape(tuple(_cup_body(radius, height) + handle), extents, radius + reach, 2 * radius, 900.0)


def _bowl(rim: float, flare: float, height: float, segments: int) -> Shape:
    """A bowl: a bottom disc and a ring of walls flaring from `rim` - `flare` to `rim` (m) over `height` (m)."""
    base = rim - flare
    thickness = 0.006
    bottom = Primitive("cylinder", (base, 0.5 * thickness), (0.0, 0.0, -0.5 * height + 0.5 * thickness))
    walls = _ring(base, rim, -0.5 * height + thickness, 0.5 * height, thickness, segments)
    return Shape((bottom, *walls), (2 * rim, 2 * rim, height), rim, 2 * rim, 900.0)


def bowl(rng: np.random.Generator) -> Shape:
    rim = float(rng.uniform(0.029, 0.031))
    return _bowl(rim, 0.01, float(rng.uniform(0.035, 0.045)), 14)


def large_bowl(rng: np.random.Generator) -> Shape:
    """A bowl to put things in (place scenes): 19-21 cm across the rim, room for two or three small objects
    side by side (the hand opening around each); too wide to be picked itself."""
    rim = float(rng.uniform(0.095, 0.105))
    return _bowl(rim, 0.015, float(rng.uniform(0.045, 0.055)), 24)


#: Object kinds by name; each builder draws its dimensions from the scene's random generator.
KINDS: dict[str, Callable[[np.random.Generator], Shape]] = {
    "block": block,
    "ball": ball,
    "can": can,
    "cup": cup,
    "mug": mug,
    "bowl": bowl,
}
