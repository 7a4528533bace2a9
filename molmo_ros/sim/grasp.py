"""Top-down grasp poses for the Panda hand, solved to joint positions with :func:`molmo_ros.sim.ik.solve_ik`.

Used by scripted picks (tests, data generation); the planners make their own grasps from the same rules.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.transform import Rotation

#: How far below an object's top the fingertips close (m): low enough for a firm pinch, high enough that the
#: hand body (4.5 cm above the fingertips) stays clear of the object.
GRASP_DEPTH = 0.03


def top_down_rotation(object_yaw: float, reference: Rotation | None = None) -> Rotation:
    """Orientation of the tool frame pointing straight down with the fingers across the object's faces.

    The fingers close along the tool y axis; an object with 90-degree symmetry (block, cylinder) can be taken
    at `object_yaw` + k * 90 deg, and the k closest in yaw to `reference` (e.g. the current hand orientation)
    is chosen, so the wrist turns as little as possible.
    """
    candidates = [object_yaw + k * 0.5 * math.pi for k in range(-4, 5)]
    ref_yaw = 0.0 if reference is None else float(reference.as_euler("ZYX")[0])
    yaw = min(candidates, key=lambda a: abs(math.remainder(a - ref_yaw, 2.0 * math.pi)))
    # Rx(pi) flips the tool z axis to point down.
    return Rotation.from_euler("z", yaw) * Rotation.from_euler("x", math.pi)


def grasp_height(centre_z: float, height: float) -> float:
    """Tool-centre height (m) for grasping an object whose origin is at `centre_z` and is `height` tall."""
    return float(min(centre_z, centre_z + 0.5 * height - GRASP_DEPTH))


def grasp_points(
    centre: np.ndarray, height: float, approach: float = 0.12, lift: float = 0.15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pre-grasp, grasp and lift positions (3,) each, for a top-down pick of an object centred at `centre`."""
    grasp = np.array([centre[0], centre[1], grasp_height(centre[2], height)])
    up = np.array([0.0, 0.0, 1.0])
    return grasp + approach * up, grasp, grasp + lift * up
