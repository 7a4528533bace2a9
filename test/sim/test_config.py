"""config/sim.yaml is complete, typed and validated."""

from __future__ import annotations

import pytest

from molmo_ros.sim.config import from_parameters, load_parameters, load_sim_config, validate
from molmo_ros.sim.errors import SimError


def test_config_file_loads_with_physics_at_500_hz_or_more():
    config = load_sim_config()
    assert config.timestep <= 0.002
    assert config.depth_encoding in ("32FC1", "16UC1")
    assert config.camera_position != config.camera_target


def test_missing_parameter_is_an_error():
    values = load_parameters()
    del values["timestep"]
    with pytest.raises(SimError, match="timestep"):
        from_parameters(values)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("timestep", 0.01),
        ("depth_encoding", "8UC1"),
        ("camera_rate", 0.0),
        ("gripper_force", 500.0),
        ("workspace_x", [0.6, 0.4]),
        ("camera_position", [1.0, 0.0]),
    ],
)
def test_bad_values_are_rejected(name, value):
    assert validate({name: value})
    with pytest.raises(SimError, match=name):
        load_sim_config(**{name: value})
