"""Scene layouts: which objects stand where on the table, drawn from a seed.

A layout is pure data (no MuJoCo): the same seed and configuration always give the same layout, and
:mod:`molmo_ros.sim.scene` turns it into MJCF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from molmo_ros.sim.catalogue import COLOURS, KINDS, Shape, large_bowl
from molmo_ros.sim.config import LAYOUTS, SimConfig
from molmo_ros.sim.errors import SceneError

#: Height of the table top in the world (= robot base) frame, m: the Panda stands on the table.
TABLE_TOP_Z = 0.0
#: Table extent (m): x from the back edge behind the robot to the front edge, y symmetric.
TABLE_X = (-0.3, 0.9)
TABLE_HALF_Y = 0.6
TABLE_HEIGHT = 0.75
#: Object centres stay this far (m) from the robot base axis: closer, the arm cannot reach down to them.
MIN_BASE_DISTANCE = 0.33
MAX_BASE_DISTANCE = 0.72

_SMALL_KINDS = tuple(k for k in KINDS if k != "bowl")

_PLACEMENT_ATTEMPTS = 200
# Whole-layout restarts (same generator, so still deterministic) when a late object finds no room.
_LAYOUT_ATTEMPTS = 20


@dataclass(frozen=True)
class PlacedObject:
    """One object of a layout.

    name: unique in the scene, "<colour>_<kind>" (the body name in MJCF); kind: a key of catalogue.KINDS;
    colour: a key of catalogue.COLOURS; shape: its geometry; position (3,): object origin at rest, in the world
    frame (m); yaw: rotation about z (rad).
    """

    name: str
    kind: str
    colour: str
    shape: Shape
    position: tuple[float, float, float]
    yaw: float

    @property
    def label(self) -> str:
        """How a person names it: "red cup"."""
        return f"{self.colour} {self.kind}"


@dataclass(frozen=True)
class SceneLayout:
    """The objects of one scene, and the seed that drew them (None for a hand-made layout)."""

    seed: int | None
    objects: tuple[PlacedObject, ...]

    def names(self) -> list[str]:
        return [o.name for o in self.objects]


def _inside_reach(x: float, y: float) -> bool:
    return MIN_BASE_DISTANCE <= math.hypot(x, y) <= MAX_BASE_DISTANCE


def place_object(
    kind: str, colour: str, xy: tuple[float, float], yaw: float, rng: np.random.Generator | None = None
) -> PlacedObject:
    """A single object resting on the table at `xy` (m); its dimensions are drawn from `rng` (or seed 0)."""
    if kind not in KINDS:
        raise SceneError(f"unknown object kind {kind!r} (known: {', '.join(KINDS)})")
    if colour not in COLOURS:
        raise SceneError(f"unknown colour {colour!r} (known: {', '.join(COLOURS)})")
    shape = KINDS[kind](rng if rng is not None else np.random.default_rng(0))
    position = (float(xy[0]), float(xy[1]), TABLE_TOP_Z + 0.5 * shape.height)
    return PlacedObject(f"{colour}_{kind}", kind, colour, shape, position, float(yaw))


def sample_layout(
    seed: int, config: SimConfig, num_objects: int | None = None, layout: str | None = None
) -> SceneLayout:
    """Draw a layout of objects with distinct (colour, kind), placed without overlap inside the arm's reach.

    Args:
        seed: the random seed; the same seed and config give the same layout.
        config: workspace bounds, clearance and object counts.
        num_objects: how many objects (the large bowl included); None uses ``config.num_objects`` (0: the
            seed picks one in ``[config.min_objects, config.max_objects]``).
        layout: one of LAYOUTS; None uses ``config.layout``.

    Raises:
        SceneError: an unknown layout, or the objects do not fit the workspace with the required clearance.
    """
    layout = config.layout if layout is None else layout
    if layout not in LAYOUTS:
        raise SceneError(f"unknown layout {layout!r} (known: {', '.join(LAYOUTS)})")
    rng = np.random.default_rng(seed)
    count = config.num_objects if num_objects is None else num_objects
    if count <= 0:
        count = int(rng.integers(config.min_objects, config.max_objects + 1))
    if not 1 <= count <= 6:
        raise SceneError(f"a scene holds 1-6 objects, not {count}")
    if layout == "mixed":
        kinds, colours = list(KINDS), list(COLOURS)
        # Distinct (colour, kind) pairs, so every object has a unique name and an unambiguous description.
        pairs = rng.choice(len(kinds) * len(colours), size=count, replace=False)
        chosen = [(kinds[p % len(kinds)], colours[p // len(kinds)]) for p in pairs]
        shapes = [KINDS[kind](rng) for kind, _ in chosen]
    else:
        chosen, shapes = _with_large_bowl(layout, max(count, 2), rng)
    for _ in range(_LAYOUT_ATTEMPTS):
        placed = _place_all(chosen, shapes, config, rng)
        if placed is not None:
            return SceneLayout(seed, tuple(placed))
    raise SceneError(
        f"seed {seed}: {count} objects do not fit the workspace x={config.workspace_x}, "
        f"y={config.workspace_y} with clearance {config.object_clearance} m; use fewer objects or more room"
    )


def _with_large_bowl(
    layout: str, count: int, rng: np.random.Generator
) -> tuple[list[tuple[str, str]], list[Shape]]:
    """The objects of a place or sort scene: a large bowl first (the biggest footprint is placed first),
    then small objects; `count` includes the bowl (a sort scene holds 3-6)."""
    colours = list(COLOURS)
    chosen = [("bowl", colours[int(rng.integers(len(colours)))])]
    if layout == "sort":
        kind = _SMALL_KINDS[int(rng.integers(len(_SMALL_KINDS)))]
        same = int(rng.integers(2, 4))
        others = int(rng.integers(0, 3))
        picked = rng.choice(len(colours), size=same, replace=False)
        chosen += [(kind, colours[c]) for c in picked]
        kinds = [k for k in _SMALL_KINDS if k != kind]
    else:
        others = count - 1
        kinds = list(_SMALL_KINDS)
    pairs = rng.choice(len(kinds) * len(colours), size=others, replace=False)
    chosen += [(kinds[p % len(kinds)], colours[p // len(kinds)]) for p in pairs]
    shapes = [large_bowl(rng)] + [KINDS[kind](rng) for kind, _ in chosen[1:]]
    return chosen, shapes


def _place_all(
    chosen: list[tuple[str, str]], shapes: list[Shape], config: SimConfig, rng: np.random.Generator
) -> list[PlacedObject] | None:
    """Rejection-sample positions one object after the other; None when one finds no free spot."""
    placed: list[PlacedObject] = []
    for (kind, colour), shape in zip(chosen, shapes, strict=True):
        for _ in range(_PLACEMENT_ATTEMPTS):
            x = float(rng.uniform(*config.workspace_x))
            y = float(rng.uniform(*config.workspace_y))
            if not _inside_reach(x, y):
                continue
            clear = all(
                math.hypot(x - o.position[0], y - o.position[1])
                >= shape.footprint_radius + o.shape.footprint_radius + config.object_clearance
                for o in placed
            )
            if clear:
                yaw = float(rng.uniform(-math.pi, math.pi))
                position = (x, y, TABLE_TOP_Z + 0.5 * shape.height)
                placed.append(PlacedObject(f"{colour}_{kind}", kind, colour, shape, position, yaw))
                break
        else:
            return None
    return placed
