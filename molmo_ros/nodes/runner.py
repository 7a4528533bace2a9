"""Running one node as a process: rclpy set-up, a multi-threaded executor, orderly shutdown."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node


def run_node(
    make_node: Callable[[], Node],
    args: Sequence[str] | None = None,
    threads: int | Callable[[Node], int] = 4,
    start: Callable[[Node], None] | None = None,
) -> int:
    """Create the node, call `start` on it (lifecycle transitions, say), spin until shutdown; exit code.

    `threads` may depend on the node's parameters (a callable of the node). Ctrl-C ends quietly.
    """
    rclpy.init(args=list(args) if args is not None else sys.argv)
    node = make_node()
    executor = MultiThreadedExecutor(num_threads=threads(node) if callable(threads) else threads)
    executor.add_node(node)
    # Spin from the start, so the node takes in messages while `start` does slow work (loading a model).
    spinner = threading.Thread(target=_spin, args=(executor,), daemon=True)
    spinner.start()
    try:
        if start is not None:
            start(node)
        while spinner.is_alive():
            spinner.join(timeout=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        executor.shutdown()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


def _spin(executor: MultiThreadedExecutor) -> None:
    with contextlib.suppress(ExternalShutdownException):
        executor.spin()
