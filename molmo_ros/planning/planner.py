"""The planning interface every backend implements: a start state and pose waypoints in, a timed joint
trajectory (or an error) out.

A waypoint is a tool pose (``panda_hand_tcp`` in the planning frame) reached either by a free, collision-free
motion (``FREE``) or along a straight line of the tool (``LINEAR``: approach and lift). Each waypoint may name
obstacles its motion is allowed to touch (the object being grasped). Backends: :mod:`embedded` (URDF + SRDF,
pinocchio + coal + OMPL + TOPP-RA; runs anywhere) and :mod:`moveit_backend` (moveit_py, with a ROS
distribution). Plain Python, no ROS.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from molmo_ros.errors import ErrorCode, MolmoRosError
from molmo_ros.planning.perception import Box
from molmo_ros.planning.trajectory import JointTrajectory


class PlanningError(MolmoRosError):
    """No collision-free, time-parameterised path was found (within the time budget)."""

    code = ErrorCode.PLANNING_FAILED


class Motion(enum.Enum):
    """How the tool reaches a waypoint: any collision-free path, or a straight line of the tool centre."""

    FREE = "free"
    LINEAR = "linear"


@dataclass(frozen=True)
class PoseWaypoint:
    """A tool pose to reach: position (3,) m and rotation in the planning frame, how to get there, and the
    names of obstacles the motion there may touch."""

    position: np.ndarray
    rotation: Rotation
    motion: Motion = Motion.FREE
    allowed_contacts: frozenset[str] = frozenset()
    name: str = ""


@dataclass(frozen=True)
class JointState:
    """Joint names and positions (rad for revolute joints, m for the fingers)."""

    names: tuple[str, ...]
    positions: np.ndarray

    def get(self, names: Sequence[str]) -> np.ndarray:
        """Positions of `names`, in that order (KeyError naming a missing joint)."""
        index = {n: i for i, n in enumerate(self.names)}
        missing = [n for n in names if n not in index]
        if missing:
            raise KeyError(f"the joint state lacks {missing}")
        return np.array([self.positions[index[n]] for n in names], dtype=float)


@dataclass(frozen=True)
class PlanningScene:
    """What to avoid besides the robot itself: box obstacles and the table height (m, planning frame)."""

    obstacles: list[Box] = field(default_factory=list)
    table_z: float = 0.0


@dataclass(frozen=True)
class PlanResult:
    """A trajectory or the error that prevented one; planning time (ms); end_state: the joint state at the
    trajectory's end (the start of whatever follows)."""

    trajectory: JointTrajectory | None
    error: MolmoRosError | None
    planning_ms: float
    end_state: JointState | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.trajectory is not None


class Planner(ABC):
    """A motion planner backend. Implementations never raise from :meth:`plan`: errors come back in the
    result with their code (UNREACHABLE, PLANNING_FAILED)."""

    #: Name for logs ("embedded", "moveit").
    name: str = ""

    @abstractmethod
    def plan(
        self,
        start: JointState,
        waypoints: Sequence[PoseWaypoint],
        scene: PlanningScene,
        seed: int = 0,
    ) -> PlanResult:
        """Plan through `waypoints` in order from `start`, avoiding `scene`; deterministic for a `seed`."""

    def describe(self) -> str:
        return self.name
