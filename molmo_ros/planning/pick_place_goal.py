"""The pick-and-place task's vocabulary: its stages, goal, settings, per-object results and report (the
stage machine that uses them: :mod:`molmo_ros.planning.pick_place_task`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from molmo_ros.errors import ErrorCode
from molmo_ros.planning.pick_task import (
    APPROACHING,
    DONE,
    GRASPING,
    LIFTING,
    LOCATING,
    PLANNING,
    POINTING,
    PickIO,
    PickTaskSettings,
)
from molmo_ros.planning.place import Destination, PlaceSettings
from molmo_ros.planning.planner import PoseWaypoint

# The stages after the lift; the same strings as the STAGE_* constants of molmo_ros_interfaces/action/PickPlace.
# Verifying comes after retreating: the hand above the destination would hide it from the camera.
TRANSPORTING, PLACING, RELEASING, RETREATING, VERIFYING = (
    "transporting",
    "placing",
    "releasing",
    "retreating",
    "verifying",
)
PLACE_STAGES = (
    POINTING, LOCATING, PLANNING, APPROACHING, GRASPING, LIFTING,
    TRANSPORTING, PLACING, RELEASING, RETREATING, VERIFYING, DONE,
)  # fmt: skip
#: "all the blocks" moves at most this many objects.
MAX_OBJECTS = 10
_ALL = re.compile(r"\b(?:all|every|each|both)\b", re.IGNORECASE)


def wants_all(query: str) -> bool:
    """Whether the query asks for every object it names ("all the blocks", "both cups")."""
    return bool(_ALL.search(query))


@dataclass
class Progress:
    """Which object a report is about: its index (0 first), how many wanted objects remain after it, and
    the pick attempt (1 first; 0 for the destination's stages)."""

    index: int = 0
    remaining: int = 0
    attempt: int = 0


class PickPlaceIO(PickIO, Protocol):
    """PickIO whose reports also say which object and attempt they are about."""

    def report(self, stage: str, detail: str, progress: Progress | None = None) -> None:
        """Tell the client the task entered `stage` (raises CanceledError if a cancel was requested)."""


@dataclass(frozen=True)
class PickPlaceGoal:
    """What to move and where: `place_query` pointed at, else `place_point` (3,) m, planning frame, the
    surface to stand the object on; at most `max_objects` (0: one, or every pointed object for "all the
    ..."), `max_attempts` picks per object (0: the settings')."""

    query: str
    place_query: str = ""
    place_point: np.ndarray | None = None
    max_objects: int = 0
    max_attempts: int = 0


@dataclass(frozen=True)
class PickPlaceSettings:
    """The pick's settings, the place's, and the default number of pick attempts per object."""

    task: PickTaskSettings
    place: PlaceSettings = field(default_factory=PlaceSettings)
    max_attempts: int = 2

    @classmethod
    def from_parameters(cls, p: dict[str, Any]) -> PickPlaceSettings:
        """From the pick node's parameters (config/pick.yaml, section molmo_pick)."""
        place = PlaceSettings(
            clearance=p["place_clearance"],
            wall_margin=p["place_wall_margin"],
            free_radius=p["place_free_radius"],
            approach=p["approach_distance"],
            verify_radius=p["verify_radius"],
        )
        return cls(PickTaskSettings.from_parameters(p), place, int(p["max_attempts"]))


@dataclass
class ObjectResult:
    """One object's outcome: code OK when released at the destination; attempts made; where it was pointed
    at and where it was released (3,) m, and its footprint's radius (m); whether pointing again found it
    moved."""

    index: int
    code: ErrorCode = ErrorCode.OK
    message: str = ""
    attempts: int = 0
    picked_from: np.ndarray | None = None
    placed_at: np.ndarray | None = None
    held_radius: float = 0.0
    verified: bool = False
    verification: str = ""


@dataclass
class PickPlaceReport:
    """What the task did: the destination once located, every object tried (in order), milliseconds per
    stage summed over the objects."""

    destination: Destination | None = None
    objects: list[ObjectResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    home: PoseWaypoint | None = None

    @property
    def moved(self) -> int:
        return sum(o.code == ErrorCode.OK for o in self.objects)
