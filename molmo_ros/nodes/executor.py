"""The multi-threaded executor every molmo_ros process spins: rclpy's, without two livelocks of its Kilted wheels.

rclpy 9.1 with rmw_fastrtps 9.3 (ROS 2 Kilted, the wheels of requirements.txt), measured here on 2 cores:

1. **A subscription's QoS event handlers wake the executor while its message waits for a pool thread.** rclpy
   gives every subscription event handlers (its default ones report incompatible QoS and types); they are
   waitables in the subscription's callback group. Once the executor has handed a subscription's callback to
   the thread pool, the subscription leaves the wait set until a pool thread takes the message, but its event
   handlers stay, and Fast DDS wakes them on every pass while the message is unread. The spinning thread then
   loops in Python holding the GIL, so the pool thread that would take the message barely runs. A 250 Hz
   timer next to a same-process subscriber of a 125 Hz topic ran 5-10 times a second at a full core; the pick
   session's simulation ran at 0.05x real time and picks aborted with "the joint states stopped arriving".
   Here an event handler waits with its subscription: it is left out of the wait set while the subscription's
   callback is handed over.
2. **A task is queued again while it still waits in the pool's queue** (rclpy looks only at "not executing
   yet"): the same pick session held 700-3,600 copies at once. Fixed upstream after Kilted's release
   (ros2/rclpy#1452, #1547, rclpy 10.0.4). Here a task whose previous hand-over has not finished is not handed
   over again; a coroutine task that awaits something has finished its hand-over and is resumed as before.

Written here because no rclpy release for this distribution has either fix.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future as PoolFuture
from typing import Any

from rclpy.event_handler import EventHandler
from rclpy.executors import (
    ConditionReachedException,
    ExternalShutdownException,
    MultiThreadedExecutor,
    ShutdownException,
    TimeoutException,
)
from rclpy.task import Task

_NOTHING_TO_RUN = (ExternalShutdownException, ShutdownException, TimeoutException, ConditionReachedException)


class SteadyExecutor(MultiThreadedExecutor):
    """:class:`rclpy.executors.MultiThreadedExecutor` without the two livelocks of the module docstring.

    Exceptions raised by callbacks surface from ``spin_once`` as in rclpy's executor.
    """

    def __init__(self, num_threads: int | None = None, *, context: Any = None) -> None:
        super().__init__(num_threads=num_threads, context=context)
        self._handed_over: dict[Task[Any], PoolFuture[Any]] = {}
        self._handed_over_lock = threading.Lock()
        # Event handler -> its subscription (weak on both sides: nodes create and destroy them at will).
        self._event_owner: weakref.WeakKeyDictionary[EventHandler, weakref.ref[Any]] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def queued(self) -> int:
        """Tasks handed to the thread pool whose hand-over has not finished (queued or running)."""
        with self._handed_over_lock:
            return sum(not future.done() for future in self._handed_over.values())

    def can_execute(self, entity: Any) -> bool:
        if not super().can_execute(entity):
            return False
        if not isinstance(entity, EventHandler):
            return True
        owner = self._owner_of(entity)
        return owner is None or not owner._executor_event

    def _owner_of(self, handler: EventHandler) -> Any:
        """The subscription whose event `handler` is, or None (a publisher's, or its subscription is gone)."""
        ref = self._event_owner.get(handler)
        if ref is None:  # a handler not seen yet: map the handlers of every subscription now spun
            for node in self.get_nodes():
                for subscription in node.subscriptions:
                    for owned in subscription.event_handlers:
                        self._event_owner.setdefault(owned, weakref.ref(subscription))
            ref = self._event_owner.setdefault(handler, lambda: None)
        return ref()

    def _spin_once_impl(
        self,
        timeout_sec: float | None = None,
        wait_condition: Callable[[], bool] = lambda: False,
    ) -> None:
        try:
            task, _, _ = self.wait_for_ready_callbacks(timeout_sec, None, wait_condition)
        except _NOTHING_TO_RUN:
            return
        finished: list[Task[Any]] = []
        with self._handed_over_lock:
            previous = self._handed_over.get(task)
            if previous is None or previous.done():
                self._handed_over[task] = self._executor.submit(task)
            for other, future in list(self._handed_over.items()):
                if future.done() and other.done():
                    del self._handed_over[other]
                    finished.append(other)
        for done in finished:
            done.result()  # a callback's exception surfaces here, as in rclpy's executor
