"""When the simulation bridge steps and publishes: real-time pacing and publication ticks.

Pure arithmetic on times in seconds (wall time from a monotonic clock, simulated time on the ROS clock), so
the bridge node (``molmo_ros/nodes/sim.py``) stays thin and this is tested without ROS or MuJoCo
(``test/sim/test_pacing.py``).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["MAX_CHUNK", "MAX_LAG", "PublicationSchedule", "RealTimePacer", "next_tick"]

#: Simulated time stepped at most per physics callback (s), so services and commands are served in between.
MAX_CHUNK = 0.05
#: Falling this far behind real time (s, e.g. while a reset ran) re-anchors the clock instead of racing.
MAX_LAG = 0.25


class RealTimePacer:
    """How far the physics should step in one timer callback to follow wall time at a real-time factor.

    Pacing is anchored at (wall time, simulated time, factor) when it starts, when the factor changes, and after
    a stall of more than ``max_lag`` seconds of simulated time (the lost time is not raced back).
    """

    def __init__(self, max_chunk: float = MAX_CHUNK, max_lag: float = MAX_LAG) -> None:
        self.max_chunk, self.max_lag = max_chunk, max_lag
        self._anchor: tuple[float, float, float] | None = None

    def reset(self) -> None:
        """Forget the anchor (a new scene): the next call starts pacing afresh."""
        self._anchor = None

    def goal(self, wall: float, sim_time: float, factor: float) -> float:
        """The simulated time (s) to step to now: ``wall`` (s, monotonic), ``sim_time`` (s, reached so far),
        ``factor``: the real-time factor (0 = as fast as possible, ``max_chunk`` a call)."""
        if factor <= 0.0:
            self._anchor = None
            return sim_time + self.max_chunk
        target = None
        if self._anchor is not None and self._anchor[2] == factor:
            wall0, sim0, _ = self._anchor
            target = sim0 + factor * (wall - wall0)
        if target is None or target - sim_time > self.max_lag:
            self._anchor = (wall, sim_time, factor)
            target = sim_time
        return min(target, sim_time + self.max_chunk)


def next_tick(previous: float, now: float, rate: float) -> float:
    """The next publication time (s) at ``rate`` Hz after ``previous``; never in the past (missed ticks skipped)."""
    following = previous + 1.0 / rate
    return following if following > now else now + 1.0 / rate


class PublicationSchedule:
    """When the joint states and the next camera frame are due, in simulated time (s), each at its own rate.
    A rate is a zero-argument callable (a node parameter), read only when its tick is due, so a rate changed
    at run time applies from the next tick."""

    def __init__(self) -> None:
        self.next_joint_state = self.next_camera = 0.0

    def restart(self, now: float) -> None:
        """Both due at ``now`` (a new scene)."""
        self.next_joint_state = self.next_camera = now

    def joint_state_due(self, now: float, rate: Callable[[], float]) -> bool:
        """Whether joint states are due at ``now``; if so the next tick is scheduled at ``rate()`` Hz."""
        if now + 1e-9 < self.next_joint_state:
            return False
        self.next_joint_state = next_tick(self.next_joint_state, now, rate())
        return True

    def camera_due(self, now: float, rate: Callable[[], float]) -> bool:
        """Whether a camera frame is due at ``now``; if so the next tick is scheduled at ``rate()`` Hz."""
        if now + 1e-9 < self.next_camera:
            return False
        self.next_camera = next_tick(self.next_camera, now, rate())
        return True
