"""Fixtures of the plain-Python unit tests."""

from __future__ import annotations

import pytest

from molmo_ros.geometry import CameraIntrinsics
from support.camera_data import K


@pytest.fixture
def cam() -> CameraIntrinsics:
    """A 640x480 pinhole camera without distortion (:data:`support.camera_data.K`)."""
    return CameraIntrinsics.from_k(K, 640, 480)
