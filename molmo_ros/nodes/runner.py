"""Running one node as a process: rclpy set-up, a multi-threaded executor, an orderly shutdown on SIGINT/SIGTERM.

rclpy's own signal handler shuts the context down from under the executor (the spinning thread then fails with
"failed to initialize wait set: the given context is not valid", publishers with "context is invalid"), so
this runner installs its own: a signal asks the main thread to stop; it stops the executor (no callback runs
after that), destroys the node, shuts rclpy down and returns 0. A signal while the node is still starting (a
model loading) interrupts the start. A second signal (a terminal's Ctrl-C reaches ``ros2 launch`` and the
nodes at once, then launch forwards its own) changes nothing.

The process then ends with ``os._exit`` after flushing its output: the interpreter's own teardown of torch,
transformers or MuJoCo spends seconds collecting garbage on a busy machine (measured: 4.9 s for the pointer
node), past the 5 s ``ros2 launch`` waits before it escalates to SIGTERM. Everything the node owns has been
shut down by then.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from molmo_ros.nodes.executor import SteadyExecutor


class _Stop:
    """Set by SIGINT / SIGTERM; raises KeyboardInterrupt in the main thread while the node is starting."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.starting = True

    def __call__(self, signum: int, frame: Any) -> None:
        already = self.event.is_set()
        self.event.set()
        if self.starting and not already:
            raise KeyboardInterrupt


def run_node(
    make_node: Callable[[], Node],
    args: Sequence[str] | None = None,
    threads: int | Callable[[Node], int] = 4,
    start: Callable[[Node], None] | None = None,
) -> int:
    """Create the node, call `start` on it (lifecycle transitions, say), spin until SIGINT / SIGTERM, then end
    the process with exit code 0 (:func:`exit_now`).

    `threads` may depend on the node's parameters (a callable of the node).
    """
    stop = _Stop()
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    rclpy.init(
        args=list(args) if args is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO
    )
    node: Node | None = None
    executor: SteadyExecutor | None = None
    spinner: threading.Thread | None = None
    try:
        node = make_node()
        executor = SteadyExecutor(num_threads=threads(node) if callable(threads) else threads)
        executor.add_node(node)
        # Spin from the start, so the node takes in messages while `start` does slow work (loading a model).
        spinner = threading.Thread(target=_spin, args=(executor, stop.event), name="executor", daemon=True)
        spinner.start()
        if start is not None:
            start(node)
        stop.starting = False
        while not stop.event.is_set() and spinner.is_alive():
            stop.event.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop.starting = False
        stop.event.set()
        # The spinning thread ends first: rclpy's executor.shutdown destroys its guard condition while a
        # callback task created after the shutdown flag may still trigger it from a pool thread, and the
        # spinning thread would re-raise that InvalidHandle as a traceback (seen in CI).
        if spinner is not None:
            spinner.join(timeout=1.0)
        # At most ~2 s for callbacks still running (a service call waiting for a frame): `ros2 launch`
        # escalates to SIGTERM 5 s after its SIGINT, and what is left is ended by exit_now.
        if executor is not None:
            executor.shutdown(timeout_sec=2.0)
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    exit_now(0)
    return 0  # not reached


def exit_now(code: int) -> None:
    """End the process with `code` at once, output flushed (see the module docstring)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _spin(executor: SteadyExecutor, stop: threading.Event) -> None:
    """Spin until `stop` is set (checked every 0.1 s), so the runner can stop spinning before it shuts down."""
    with contextlib.suppress(ExternalShutdownException):
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
