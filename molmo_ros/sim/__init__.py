"""The embedded simulator: a MuJoCo tabletop with a Franka Panda and a fixed RGB-D camera (no ROS imports).

- :mod:`robot`: the Panda robot file generated from example-robot-data (URDF, SRDF, meshes)
- :mod:`catalogue`, :mod:`layout`, :mod:`scene`: objects, seeded layouts, the scene file including the robot
- :mod:`simulator`: :class:`Simulator` (reset, step, render, trajectories, gripper, ground truth)
- :mod:`camera`, :mod:`trajectory`, :mod:`ik`, :mod:`config`: the parts it is made of
"""

from molmo_ros.sim.config import SimConfig, load_sim_config
from molmo_ros.sim.errors import IKError, RobotDescriptionError, SceneError, SimError, TrajectoryError
from molmo_ros.sim.layout import PlacedObject, SceneLayout, place_object, sample_layout
from molmo_ros.sim.simulator import JOINT_NAMES, ObjectState, SceneState, Simulator
from molmo_ros.sim.trajectory import JointTrajectory

__all__ = [
    "JOINT_NAMES",
    "IKError",
    "JointTrajectory",
    "ObjectState",
    "PlacedObject",
    "RobotDescriptionError",
    "SceneError",
    "SceneLayout",
    "SceneState",
    "SimConfig",
    "SimError",
    "Simulator",
    "TrajectoryError",
    "load_sim_config",
    "place_object",
    "sample_layout",
]
