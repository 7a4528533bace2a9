"""Rendered tabletop scenes with ground truth, from the project's MuJoCo simulator (:mod:`molmo_ros.sim`).

A *scene* is what :meth:`molmo_ros.sim.Simulator.reset` builds from a seed (2-6 objects of distinct colour and
kind on the table, the Panda at its ready pose, the fixed camera of ``config/sim.yaml``). A *view* is one
arrangement of that scene's objects: view 0 is the simulator's own layout (what the robot sees after
``reset(seed)``); views 1.. move the same objects to new, non-overlapping places drawn from ``(seed, view)``.
Views are cheap (one render) while a new scene costs a new renderer (~0.5 s), so the training sets render several
views per scene; the evaluation uses view 0 only, i.e. exactly the scenes the robot meets.

Seeds: training data uses seeds in :data:`TRAIN_SEEDS` ``[0, 1_000_000)``; evaluation uses seeds from
:data:`EVAL_SEED_START` (1_000_000) on, so the two never overlap.

Pixel convention: ``(u, v)`` = (column, row) with pixel centres at integer coordinates (OpenCV, the geometry
package). The Molmo text formats are continuous from the image's top-left corner, so a pixel centre ``u`` is
written as ``round((u + 0.5) / width * 1000)`` (:func:`to_molmo2`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import mujoco
import numpy as np

from molmo_ros.sim import SceneLayout, SimConfig, Simulator, load_sim_config
from molmo_ros.sim.layout import MAX_BASE_DISTANCE, MIN_BASE_DISTANCE

__all__ = [
    "EVAL_SEED_START",
    "TRAIN_SEEDS",
    "ObjectTruth",
    "RenderConfig",
    "RenderedScene",
    "SceneRenderer",
    "check_seed_range",
    "parse_seed_range",
    "to_molmo2",
]

#: Seeds the training sets are drawn from (half-open range).
TRAIN_SEEDS: tuple[int, int] = (0, 1_000_000)
#: The first held-out seed; evaluation seeds are >= this, so they never meet a training scene.
EVAL_SEED_START = 1_000_000

_PLACEMENT_ATTEMPTS = 500


@dataclass(frozen=True)
class RenderConfig:
    """How scenes are rendered into data."""

    width: int = 320  # rendered image width, px (the model's processor resizes it to its crop size)
    height: int = 240  # rendered image height, px
    views_per_scene: int = 8  # arrangements rendered per scene seed (view 0 = the simulator's own layout)
    min_visible_fraction: float = (
        0.0005  # an object showing fewer mask pixels (fraction of the image) is hidden
    )
    interior_margin_px: float = 2.0  # the target point must lie this deep inside the mask (px at this size)
    sim_config: str = ""  # path of a sim.yaml; "" = the package's config/sim.yaml
    layout: str = ""  # what the scenes hold (molmo_ros.sim.config.LAYOUTS); "" = the sim.yaml's (mixed)


def to_molmo2(u: float, size: int) -> int:
    """A pixel-centre coordinate ``u`` (px) on an axis of ``size`` px -> Molmo2's integer 0-1000 scale."""
    return int(min(1000, max(0, round((u + 0.5) / size * 1000.0))))


@dataclass
class ObjectTruth:
    """Ground truth for one object in one view.

    Attributes:
        name: unique in the scene, ``"<colour>_<kind>"``.
        kind: catalogue kind (``"cup"``); colour: catalogue colour name (``"red"``).
        index: the object's value in :attr:`RenderedScene.index_mask` (1-based).
        point: ``(u, v)`` px, the point a person would click: the projected object centre when it lies well
            inside the visible mask, else the mask's most interior pixel. None when hidden.
        pixels: visible mask pixels.
        visible: at least ``min_visible_fraction`` of the image is this object.
    """

    name: str
    kind: str
    colour: str
    index: int
    point: tuple[float, float] | None
    pixels: int
    visible: bool

    @property
    def label(self) -> str:
        """How a person names it: ``"red cup"``."""
        return f"{self.colour} {self.kind}"

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {
            "name": self.name,
            "kind": self.kind,
            "colour": self.colour,
            "index": self.index,
            "point": None if self.point is None else [round(self.point[0], 2), round(self.point[1], 2)],
            "pixels": self.pixels,
            "visible": self.visible,
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> ObjectTruth:
        """Inverse of :meth:`to_dict`."""
        point = d.get("point")
        return cls(
            name=str(d["name"]),
            kind=str(d["kind"]),
            colour=str(d["colour"]),
            index=int(d["index"]),  # type: ignore[arg-type]
            point=None if point is None else (float(point[0]), float(point[1])),  # type: ignore[index]
            pixels=int(d["pixels"]),  # type: ignore[arg-type]
            visible=bool(d["visible"]),
        )


@dataclass
class RenderedScene:
    """One rendered view with its ground truth.

    Attributes:
        seed: scene seed; view: arrangement number (0 = the simulator's layout).
        image: (H, W, 3) uint8 RGB.
        index_mask: (H, W) uint8, 0 = background / robot / table, k = ``objects[k - 1]``.
        objects: ground truth per object (hidden ones included, with ``visible=False``).
    """

    seed: int
    view: int
    image: np.ndarray
    index_mask: np.ndarray
    objects: list[ObjectTruth] = field(default_factory=list)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    def mask(self, obj: ObjectTruth) -> np.ndarray:
        """(H, W) bool mask of ``obj``."""
        return self.index_mask == obj.index

    def visible_objects(self) -> list[ObjectTruth]:
        return [o for o in self.objects if o.visible]


def _target_point(
    mask: np.ndarray, projected: tuple[float, float] | None, margin: float
) -> tuple[float, float]:
    """The point to click on a visible object: the projected centre if ``margin`` px inside ``mask``, else the
    most interior mask pixel (maximum of the distance transform)."""
    depth = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    if projected is not None:
        col, row = round(projected[0]), round(projected[1])
        if 0 <= row < mask.shape[0] and 0 <= col < mask.shape[1] and depth[row, col] >= margin:
            return float(col), float(row)
    row, col = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return float(col), float(row)


class SceneRenderer:
    """Renders seeded scenes and their views (one simulator, reused; not thread-safe).

    Args:
        config: image size, views per scene, visibility threshold.
        sim_config: a simulator configuration; None loads ``config.sim_config`` (or the package default) and
            sets the image size from ``config``.
    """

    def __init__(self, config: RenderConfig | None = None, sim_config: SimConfig | None = None) -> None:
        self.config = config or RenderConfig()
        if sim_config is None:
            path = Path(self.config.sim_config) if self.config.sim_config else None
            layout = {"layout": self.config.layout} if self.config.layout else {}
            sim_config = load_sim_config(
                path, image_width=self.config.width, image_height=self.config.height, **layout
            )
        self.sim_config = sim_config
        self._sim: Simulator | None = None

    @property
    def sim(self) -> Simulator:
        if self._sim is None:
            self._sim = Simulator(self.sim_config)
        return self._sim

    def close(self) -> None:
        if self._sim is not None:
            self._sim.close()
            self._sim = None

    def __enter__(self) -> SceneRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def scene(self, seed: int, views: int | None = None) -> Iterator[RenderedScene]:
        """Render views ``0 .. views-1`` (default ``config.views_per_scene``) of scene ``seed``."""
        sim = self.sim
        layout = sim.reset(seed=int(seed))
        for view in range(self.config.views_per_scene if views is None else views):
            if view > 0:
                self._rearrange(layout, seed, view)
            yield self._capture(seed, view)

    def _rearrange(self, layout: SceneLayout, seed: int, view: int) -> None:
        """Move the scene's objects to new places drawn from ``(seed, view)``: uniform in the workspace, inside
        the arm's reach, apart by the footprints plus the configured clearance (as the simulator places them)."""
        sim, cfg = self.sim, self.sim_config
        rng = np.random.default_rng([int(seed), int(view)])
        for _ in range(20):
            placed: list[tuple[float, float, float]] = []  # x, y, footprint radius
            for obj in layout.objects:
                radius = obj.shape.footprint_radius
                for _ in range(_PLACEMENT_ATTEMPTS):
                    x, y = float(rng.uniform(*cfg.workspace_x)), float(rng.uniform(*cfg.workspace_y))
                    if not MIN_BASE_DISTANCE <= math.hypot(x, y) <= MAX_BASE_DISTANCE:
                        continue
                    if all(
                        math.hypot(x - px, y - py) >= radius + pr + cfg.object_clearance
                        for px, py, pr in placed
                    ):
                        placed.append((x, y, radius))
                        break
                else:
                    break
            if len(placed) == len(layout.objects):
                break
        else:  # no room: keep the simulator's own layout for this view
            return
        for obj, (x, y, _) in zip(layout.objects, placed, strict=True):
            joint = mujoco.mj_name2id(sim.model, mujoco.mjtObj.mjOBJ_JOINT, f"{obj.name}_joint")
            adr, dof = sim.model.jnt_qposadr[joint], sim.model.jnt_dofadr[joint]
            yaw = float(rng.uniform(-math.pi, math.pi))
            z = sim.rest_z.get(obj.name, obj.position[2])
            sim.data.qpos[adr : adr + 7] = (x, y, z, math.cos(0.5 * yaw), 0.0, 0.0, math.sin(0.5 * yaw))
            sim.data.qvel[dof : dof + 6] = 0.0
        mujoco.mj_forward(sim.model, sim.data)

    def _capture(self, seed: int, view: int) -> RenderedScene:
        sim, cfg = self.sim, self.config
        frame = sim.render(rgb=True, depth=False, segmentation=True)
        assert frame.rgb is not None and frame.segmentation is not None
        masks = sim.masks(frame.segmentation)
        states = {s.name: s for s in sim.object_states()}
        height, width = frame.segmentation.shape
        index_mask = np.zeros((height, width), dtype=np.uint8)
        min_pixels = cfg.min_visible_fraction * width * height
        objects = []
        for k, obj in enumerate(sim.layout.objects, start=1):
            mask = masks[obj.name]
            index_mask[mask] = k
            pixels = int(mask.sum())
            visible = pixels >= max(1.0, min_pixels)
            point = _target_point(mask, states[obj.name].pixel, cfg.interior_margin_px) if visible else None
            objects.append(ObjectTruth(obj.name, obj.kind, obj.colour, k, point, pixels, visible))
        return RenderedScene(seed, view, frame.rgb.copy(), index_mask, objects)


def parse_seed_range(text: str) -> tuple[int, int]:
    """``"A:B"`` -> ``(A, B)``, the half-open seed range ``A .. B-1``.

    Raises:
        ValueError: not two integers with ``0 <= A < B``.
    """
    try:
        start_text, end_text = text.split(":")
        start, end = int(start_text), int(end_text)
    except ValueError as exc:
        raise ValueError(f"seed range must be A:B (integers), got {text!r}") from exc
    if not 0 <= start < end:
        raise ValueError(f"seed range {text!r} must satisfy 0 <= A < B")
    return start, end


def check_seed_range(seeds: tuple[int, int], split: str) -> None:
    """Refuse seeds outside their split: training seeds inside :data:`TRAIN_SEEDS`, evaluation seeds at or
    above :data:`EVAL_SEED_START`.

    Raises:
        ValueError: the range crosses into the other split.
    """
    start, end = seeds
    if split == "train" and not (TRAIN_SEEDS[0] <= start and end <= TRAIN_SEEDS[1]):
        raise ValueError(
            f"training seeds {start}:{end} leave the training range {TRAIN_SEEDS[0]}:{TRAIN_SEEDS[1]}"
        )
    if split == "eval" and start < EVAL_SEED_START:
        raise ValueError(
            f"evaluation seeds {start}:{end} overlap the training range; held-out seeds start at {EVAL_SEED_START}"
        )
    if split not in ("train", "eval"):
        raise ValueError(f"unknown split {split!r}")
