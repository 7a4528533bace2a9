"""Shared pytest fixtures.

ROS tests get a fresh rclpy Context on a domain id of their own and discovery limited to this machine, so
parallel runs (or another ROS graph on the machine) never see each other.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before rclpy starts: keep discovery on loopback.
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


@pytest.fixture
def ros_context() -> Iterator[object]:
    """A fresh, initialised rclpy Context on a random domain id; shut down after the test."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=random.randint(1, 100))
    try:
        yield context
    finally:
        if context.ok():
            rclpy.shutdown(context=context)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Molmo2 checkpoint directory (built once per session, about a second). Read-only."""
    from training.molmo2 import tiny_checkpoint

    return tiny_checkpoint(tmp_path_factory.mktemp("molmo2-tiny"))
