"""The embedded simulator: a MuJoCo tabletop with a Franka Panda and a fixed RGB-D camera (no ROS imports).

- :mod:`robot`: the Panda robot file generated from example-robot-data (URDF, SRDF, meshes)
- :mod:`catalogue`, :mod:`layout`, :mod:`scene`: objects, seeded layouts, the scene file including the robot
- :mod:`simulator`: :class:`Simulator` (reset, step, render, trajectories, gripper, ground truth)
- :mod:`camera`, :mod:`trajectory`, :mod:`config`: the parts it is made of

Names are imported on first use: ``molmo_ros.sim.config`` and ``molmo_ros.sim.layout`` (the seeded layouts the
pick and the training data share) work without MuJoCo; only the simulator, the camera and the robot file need it.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "JOINT_NAMES": "simulator",
    "ObjectState": "simulator",
    "SceneState": "simulator",
    "Simulator": "simulator",
    "PlacedObject": "layout",
    "SceneLayout": "layout",
    "place_object": "layout",
    "sample_layout": "layout",
    "SimConfig": "config",
    "load_sim_config": "config",
    "RobotDescriptionError": "errors",
    "SceneError": "errors",
    "SimError": "errors",
    "TrajectoryError": "errors",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'molmo_ros.sim' has no attribute {name!r}")
    return getattr(importlib.import_module(f"molmo_ros.sim.{module}"), name)
