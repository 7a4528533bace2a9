"""Fixtures for the simulator tests: the project's config/sim.yaml with small images and a private cache."""

from __future__ import annotations

import pytest

from molmo_ros.sim.config import SimConfig, load_sim_config


@pytest.fixture(scope="session")
def sim_config(tmp_path_factory: pytest.TempPathFactory) -> SimConfig:
    """config/sim.yaml at 320x240 (fast to render on 2 CPU cores), generated files in a temporary folder."""
    cache = tmp_path_factory.mktemp("sim_cache")
    return load_sim_config(cache_dir=str(cache), image_width=320, image_height=240)
