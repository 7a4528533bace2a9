"""Top-down grasps for the Panda hand: orientation, grasp height, and the pick's waypoints.

The helpers at the top (:data:`GRASP_DEPTH`, :func:`top_down_rotation`, :func:`grasp_height`,
:func:`grasp_points`) are the one definition of a top-down grasp in this repository: the pick (from a depth
image) and the simulator's scripted picks (from ground truth) both use them. :func:`plan_grasp` turns an
observed object (:class:`molmo_ros.planning.perception.ObjectObservation`) into ordered grasp candidates.

Frames: the planning frame is the robot base (``panda_link0``), z up, meters and radians. The tool frame is
``panda_hand_tcp``: z along the fingers (pointing down for a top-down grasp), the fingers close along its y axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from molmo_ros.errors import ErrorCode, MolmoRosError

#: How far below an object's top the fingertips close (m): low enough for a firm pinch, high enough that the
#: hand body (4.5 cm above the fingertips) stays clear of the object.
GRASP_DEPTH = 0.03
#: 90-degree symmetry (blocks, cylinders, balls): the fingers may take the object across either pair of faces.
QUARTER_TURN = 0.5 * math.pi
#: 180-degree symmetry (elongated objects): only the narrow side fits between the fingers.
HALF_TURN = math.pi


def top_down_rotation(
    object_yaw: float, reference: Rotation | None = None, symmetry: float = QUARTER_TURN
) -> Rotation:
    """Orientation of the tool frame pointing straight down with the fingers across the object's faces.

    The fingers close along the tool y axis; an object symmetric under rotations by `symmetry` (rad) about
    the vertical can be taken at `object_yaw` + k * `symmetry`, and the k closest in yaw to `reference`
    (e.g. the current hand orientation; None: yaw 0, the Panda's ready pose) is chosen, so the wrist turns as
    little as possible.
    """
    steps = round(2.0 * math.pi / symmetry)
    candidates = [object_yaw + k * symmetry for k in range(-steps, steps + 1)]
    ref_yaw = 0.0 if reference is None else float(reference.as_euler("ZYX")[0])
    yaw = min(candidates, key=lambda a: abs(math.remainder(a - ref_yaw, 2.0 * math.pi)))
    # Rx(pi) flips the tool z axis to point down.
    return Rotation.from_euler("z", yaw) * Rotation.from_euler("x", math.pi)


def grasp_height(centre_z: float, height: float, depth: float = GRASP_DEPTH) -> float:
    """Tool-centre height (m) for grasping an object whose origin is at `centre_z` and is `height` tall.

    `depth` (m) below the top, but never higher than the object's middle.
    """
    return float(min(centre_z, centre_z + 0.5 * height - depth))


def grasp_points(
    centre: np.ndarray, height: float, approach: float = 0.12, lift: float = 0.15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pre-grasp, grasp and lift positions (3,) each, for a top-down pick of an object centred at `centre`."""
    grasp = np.array([centre[0], centre[1], grasp_height(centre[2], height)])
    up = np.array([0.0, 0.0, 1.0])
    return grasp + approach * up, grasp, grasp + lift * up


@dataclass(frozen=True)
class Workspace:
    """Where the arm can take objects from above: a ring around the base axis and a height band (m)."""

    min_radius: float
    max_radius: float
    min_z: float
    max_z: float

    def check(self, point: np.ndarray) -> None:
        """Raise UnreachableError naming the violated bound when `point` (3,) lies outside the workspace."""
        x, y, z = (float(v) for v in point)
        radius = math.hypot(x, y)
        if not np.all(np.isfinite(point)):
            raise UnreachableError(f"target {point.tolist()} is not a finite point")
        if radius < self.min_radius:
            raise UnreachableError(
                f"target ({x:.3f}, {y:.3f}, {z:.3f}) m is {radius:.3f} m from the base axis, closer than "
                f"the workspace's {self.min_radius:.3f} m"
            )
        if radius > self.max_radius:
            raise UnreachableError(
                f"target ({x:.3f}, {y:.3f}, {z:.3f}) m is {radius:.3f} m from the base axis, beyond the "
                f"arm's reach of {self.max_radius:.3f} m"
            )
        if not self.min_z <= z <= self.max_z:
            raise UnreachableError(
                f"target height {z:.3f} m is outside the workspace's [{self.min_z:.3f}, {self.max_z:.3f}] m"
            )


class UnreachableError(MolmoRosError):
    """The target is outside the workspace or the arm has no collision-free way to grasp it."""

    code = ErrorCode.UNREACHABLE


@dataclass(frozen=True)
class GraspSettings:
    """How a top-down pick is laid out (m): approach height above the grasp, lift height, grasp depth below
    the object's top, the lowest tool-centre height above the table, and the elongation (ratio of the
    footprint's principal extents) above which an object is taken across its narrow side only."""

    approach: float = 0.12
    lift: float = 0.15
    depth: float = GRASP_DEPTH
    min_height: float = 0.015
    elongation: float = 1.6


@dataclass(frozen=True)
class GraspCandidate:
    """One way to pick the object: tool poses (position (3,) m, rotation) for pre-grasp, grasp and lift.

    width: expected opening (m) with the object between the fingers (0: unknown).
    """

    pregrasp: np.ndarray
    grasp: np.ndarray
    lift: np.ndarray
    rotation: Rotation
    width: float

    @property
    def yaw(self) -> float:
        return float(self.rotation.as_euler("ZYX")[0])


def plan_grasp(
    centre_xy: np.ndarray,
    top_z: float,
    table_z: float,
    principal_yaw: float | None,
    elongation: float,
    width: float,
    settings: GraspSettings,
    reference: Rotation | None = None,
) -> list[GraspCandidate]:
    """Top-down grasp candidates, best first.

    Args:
        centre_xy: (2,) where the hand's axis goes down (m, planning frame).
        top_z: height of the object's top surface (m).
        table_z: height of the table surface under it (m).
        principal_yaw: direction (rad) of the footprint's major axis; None: unknown (a default is used).
        elongation: major / minor extent of the footprint (>= 1).
        width: the object's extent across the closing direction (m; 0 unknown).
        settings: the pick's layout.
        reference: the hand's current orientation; candidates turn the wrist as little as possible from it.

    The fingers close across the footprint's minor axis (along it when the object is not elongated, any of
    the four face-aligned directions works; the one needing least wrist rotation comes first, the others
    follow in case the planner finds that one blocked).
    """
    height = max(top_z - table_z, 0.0)
    # The object rests on the table: its middle is half its height above it.
    grasp_z = table_z + max(grasp_height(0.5 * height, height, settings.depth), settings.min_height)
    symmetric = principal_yaw is None or elongation < settings.elongation
    # Fingers close along the tool y axis, which points at yaw - 90 deg (see top_down_rotation): closing
    # across the minor axis means tool y perpendicular to the major axis, i.e. yaw = major axis direction.
    base_yaw = 0.0 if principal_yaw is None else float(principal_yaw)
    ref_yaw = 0.0 if reference is None else float(reference.as_euler("ZYX")[0])

    def wrist_turn(yaw: float) -> float:
        return abs(math.remainder(yaw - ref_yaw, 2.0 * math.pi))

    # Across the minor axis first (a mug's handle stays out of the fingers' way), each pair ordered by how
    # far the wrist turns; across the major axis afterwards, only for objects that are not elongated.
    across = sorted((base_yaw + k * HALF_TURN for k in range(2)), key=wrist_turn)
    along = sorted((base_yaw + QUARTER_TURN + k * HALF_TURN for k in range(2)), key=wrist_turn)
    yaws = across + (along if symmetric else [])
    grasp = np.array([centre_xy[0], centre_xy[1], grasp_z], dtype=float)
    up = np.array([0.0, 0.0, 1.0])
    return [
        GraspCandidate(
            pregrasp=grasp + settings.approach * up,
            grasp=grasp.copy(),
            lift=grasp + settings.lift * up,
            rotation=Rotation.from_euler("z", yaw) * Rotation.from_euler("x", math.pi),
            width=float(width),
        )
        for yaw in yaws
    ]
