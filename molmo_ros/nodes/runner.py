"""Running one node as a process: rclpy set-up, a multi-threaded executor, orderly shutdown."""

from __future__ import annotations

import sys
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
    try:
        if start is not None:
            start(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0
