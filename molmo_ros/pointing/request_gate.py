"""Admission control for a slow resource (the model): one user at a time, a bounded queue, BUSY beyond it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from molmo_ros.errors import ErrorCode, MolmoRosError


class RequestGate:
    """At most one holder runs at a time; up to ``max_waiting`` more wait; any further caller is refused.

    Refusal is immediate (no waiting), so a service answers BUSY at once instead of piling up requests.
    """

    def __init__(self, max_waiting: int) -> None:
        if max_waiting < 0:
            raise ValueError(f"max_waiting must be >= 0, got {max_waiting}")
        self.max_waiting = max_waiting
        self._admitted = 0  # running + waiting
        self._count_lock = threading.Lock()
        self._run_lock = threading.Lock()

    @property
    def admitted(self) -> int:
        """Requests running or waiting now."""
        with self._count_lock:
            return self._admitted

    @contextmanager
    def enter(self) -> Iterator[None]:
        """Run the body when it is this caller's turn; raise BUSY at once if the queue is full."""
        with self._count_lock:
            if self._admitted >= 1 + self.max_waiting:
                raise MolmoRosError(
                    f"busy: {self._admitted} requests already running or queued (queue size {self.max_waiting})",
                    ErrorCode.BUSY,
                )
            self._admitted += 1
        try:
            with self._run_lock:
                yield
        finally:
            with self._count_lock:
                self._admitted -= 1
