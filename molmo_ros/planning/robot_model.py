"""The Panda as the embedded planner sees it: kinematics and collision geometry from the URDF, allowed
collisions and the arm group from the SRDF (pinocchio + coal), joint limits from config/robot.

The URDF and SRDF are those of the simulation (:mod:`molmo_ros.planning.description`, the example-robot-data package):
one robot description for the simulator, the planner and the grasp check.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import yaml
from scipy.spatial.transform import Rotation

from molmo_ros.config import config_path
from molmo_ros.planning.description import (
    panda_srdf_path,
    panda_urdf_path,
    robot_data_root,
    srdf_end_effector_link,
    srdf_group_joints,
)
from molmo_ros.planning.perception import Capsule


@dataclass(frozen=True)
class JointLimits:
    """Per-joint limits of the planned joints (J,): positions (rad), velocities (rad/s), accelerations
    (rad/s^2), the latter two already scaled by the planner's scaling factors."""

    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray


def load_joint_limits(
    joints: list[str],
    lower: np.ndarray,
    upper: np.ndarray,
    velocity_scaling: float,
    acceleration_scaling: float,
) -> JointLimits:
    """Velocity and acceleration limits of `joints` from config/robot/joint_limits.yaml, scaled."""
    with open(config_path("robot/joint_limits.yaml")) as stream:
        table = yaml.safe_load(stream)["joint_limits"]
    velocity = np.array([float(table[j]["max_velocity"]) for j in joints]) * velocity_scaling
    acceleration = np.array([float(table[j]["max_acceleration"]) for j in joints]) * acceleration_scaling
    return JointLimits(np.asarray(lower, float), np.asarray(upper, float), velocity, acceleration)


class RobotModel:
    """Pinocchio model and coal collision geometry of the Panda (see the module docstring).

    Args:
        group: SRDF group to plan for ("arm" in example-robot-data's SRDF).
    """

    def __init__(self, group: str = "arm") -> None:
        import pinocchio as pin

        self.urdf, self.srdf = panda_urdf_path(), panda_srdf_path()
        self.model = pin.buildModelFromUrdf(str(self.urdf))
        self.geometry = pin.buildGeomFromUrdf(
            self.model,
            str(self.urdf),
            pin.GeometryType.COLLISION,
            package_dirs=[str(robot_data_root().parent)],
        )
        self.geometry.addAllCollisionPairs()
        pin.removeCollisionPairs(self.model, self.geometry, str(self.srdf))
        self.group = group
        self.joint_names = srdf_group_joints(self.srdf, group)
        self.tool_frame = srdf_end_effector_link(self.srdf, group)
        self.tool_frame_id = self.model.getFrameId(self.tool_frame)
        self.all_joint_names = [self.model.names[i] for i in range(1, self.model.njoints)]
        joint_ids = [self.model.getJointId(n) for n in self.joint_names]
        self.q_index = np.array([self.model.joints[j].idx_q for j in joint_ids])
        self.v_index = np.array([self.model.joints[j].idx_v for j in joint_ids])
        self.lower = self.model.lowerPositionLimit[self.q_index].copy()
        self.upper = self.model.upperPositionLimit[self.q_index].copy()
        self.data = self.model.createData()

    # ------------------------------------------------------------------ configurations
    def full_configuration(self, names: tuple[str, ...], positions: np.ndarray) -> np.ndarray:
        """The model's q (nq,) from a joint state (joints it does not name stay at the model's neutral)."""
        import pinocchio as pin

        q = pin.neutral(self.model)
        index = {n: i for i, n in enumerate(names)}
        for name in self.all_joint_names:
            if name in index:
                q[self.model.joints[self.model.getJointId(name)].idx_q] = positions[index[name]]
        return q

    def with_arm(self, q_full: np.ndarray, arm: np.ndarray) -> np.ndarray:
        q = q_full.copy()
        q[self.q_index] = arm
        return q

    # ------------------------------------------------------------------ kinematics
    def tool_pose(self, q_full: np.ndarray) -> tuple[np.ndarray, Rotation]:
        """Position (3,) and rotation of the tool frame at configuration `q_full`."""
        import pinocchio as pin

        pin.framesForwardKinematics(self.model, self.data, q_full)
        placement = self.data.oMf[self.tool_frame_id]
        return placement.translation.copy(), Rotation.from_matrix(placement.rotation.copy())

    def solve_ik(
        self,
        q_full: np.ndarray,
        position: np.ndarray,
        rotation: Rotation,
        max_iterations: int = 200,
        tolerance: tuple[float, float] = (1e-4, 1e-3),
        damping: float = 1e-3,
    ) -> np.ndarray | None:
        """Damped least squares on the tool frame's Jacobian (pinocchio), starting at `q_full`.

        Why not pink (pinocchio's IK library): it solves one velocity-level QP step per call and needs a QP
        solver package; reaching one pose within joint limits is this short loop on pinocchio's Jacobian.

        Returns the full configuration reaching the pose within `tolerance` (m, rad) inside the joint limits,
        or None.
        """
        import pinocchio as pin

        target = pin.SE3(rotation.as_matrix(), np.asarray(position, dtype=float))
        q = q_full.copy()
        for _ in range(max_iterations):
            pin.framesForwardKinematics(self.model, self.data, q)
            error = pin.log6(self.data.oMf[self.tool_frame_id].actInv(target)).vector
            if np.linalg.norm(error[:3]) < tolerance[0] and np.linalg.norm(error[3:]) < tolerance[1]:
                return q
            jacobian = pin.computeFrameJacobian(self.model, self.data, q, self.tool_frame_id, pin.LOCAL)
            j = jacobian[:, self.v_index]
            dq = j.T @ np.linalg.solve(j @ j.T + damping * np.eye(6), error)
            largest = np.max(np.abs(dq))
            if largest > 0.3:
                dq *= 0.3 / largest
            arm = np.clip(q[self.q_index] + dq, self.lower, self.upper)
            q = self.with_arm(q, arm)
        return None

    def link_capsules(self, q_full: np.ndarray, radius: float = 0.09) -> list[Capsule]:
        """Capsules from each joint origin to the next and to the tool: covers the arm's own points in a depth
        image (for removing them from the obstacles)."""
        import pinocchio as pin

        pin.forwardKinematics(self.model, self.data, q_full)
        pin.updateFramePlacements(self.model, self.data)
        origins = [self.data.oMi[j].translation.copy() for j in range(1, self.model.njoints)]
        origins.insert(0, np.zeros(3))
        tool = self.data.oMf[self.tool_frame_id].translation.copy()
        hand = self.data.oMf[self.model.getFrameId("panda_hand")].translation.copy()
        capsules = [Capsule(a, b, radius) for a, b in itertools.pairwise(origins)]
        capsules.append(Capsule(hand, tool, radius))
        # The base link is wider than the arm (its cable connector sticks out backwards).
        capsules.append(Capsule(np.array([-0.05, 0.0, -0.05]), np.array([0.0, 0.0, 0.2]), 0.16))
        return capsules
