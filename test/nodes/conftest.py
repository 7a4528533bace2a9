"""Fixtures for node tests: one rclpy context and executor per module, the scripted model server."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import rclpy

from support.ros import ScriptedModelServer, Spinner


@pytest.fixture(scope="module")
def model_server() -> Iterator[ScriptedModelServer]:
    server = ScriptedModelServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def ros_module_context() -> Iterator[object]:
    """One rclpy context (own domain id) for all tests of a module: nodes start once per module."""
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=random.randint(101, 200))
    yield context
    if context.ok():
        rclpy.shutdown(context=context)


@pytest.fixture(scope="module")
def spinner(ros_module_context) -> Iterator[Spinner]:
    spin = Spinner(ros_module_context)
    yield spin
    spin.close()
