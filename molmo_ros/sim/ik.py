"""Damped-least-squares inverse kinematics on MuJoCo's site Jacobian (mj_jacSite).

Small and dependency-free beyond MuJoCo and scipy: enough for scripted grasps in tests and as the embedded
planner's fallback. It works on its own MjData, so it never disturbs a running simulation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from molmo_ros.sim.errors import IKError


@dataclass(frozen=True)
class IKResult:
    """q: (J,) joint positions (rad); position_error (m) and rotation_error (rad) left at q; iterations used."""

    q: np.ndarray
    position_error: float
    rotation_error: float
    iterations: int


def solve_ik(
    model: mujoco.MjModel,
    site: str,
    joints: Sequence[str],
    target_position: Sequence[float],
    target_rotation: Rotation | None,
    q_init: Sequence[float],
    *,
    damping: float = 0.05,
    max_iterations: int = 300,
    position_tolerance: float = 1e-3,
    rotation_tolerance: float = 1e-2,
    max_step: float = 0.2,
) -> IKResult:
    """Joint positions that put `site` at a target pose.

    Args:
        model: the MuJoCo model (the other joints stay at the model's qpos0).
        site: site name (e.g. the Panda's ``panda_tcp``).
        joints: the hinge/slide joints to move (J names).
        target_position: (3,) world position in meters.
        target_rotation: the site's world orientation, or None to solve for position only.
        q_init: (J,) start positions (rad); the solution stays near them.
        damping: the DLS damping lambda (larger: more robust near singularities, slower).
        max_iterations, position_tolerance (m), rotation_tolerance (rad): convergence criteria.
        max_step: largest joint change (rad) per iteration, to keep the linearisation valid.

    Raises:
        IKError: the target was not reached within tolerance (outside the workspace or joint limits).
    """
    data = mujoco.MjData(model)
    site_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, site)
    if site_id < 0:
        raise IKError(f"no site named {site!r}")
    joint_ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name) for name in joints]
    if min(joint_ids) < 0:
        raise IKError(f"unknown joints among {list(joints)}")
    qadr = np.array([model.jnt_qposadr[j] for j in joint_ids])
    dofs = np.array([model.jnt_dofadr[j] for j in joint_ids])
    limited = np.array([bool(model.jnt_limited[j]) for j in joint_ids])
    low = np.where(limited, model.jnt_range[joint_ids, 0], -np.inf)
    high = np.where(limited, model.jnt_range[joint_ids, 1], np.inf)
    target_p = np.asarray(target_position, dtype=float)
    q = np.clip(np.asarray(q_init, dtype=float), low, high)
    jacp = np.zeros((3, model.nv))
    jacr = np.zeros((3, model.nv))
    pos_err = rot_err = np.inf
    for iteration in range(1, max_iterations + 1):
        data.qpos[qadr] = q
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        error_p = target_p - data.site_xpos[site_id]
        pos_err = float(np.linalg.norm(error_p))
        if target_rotation is not None:
            current = Rotation.from_matrix(data.site_xmat[site_id].reshape(3, 3))
            # World-frame rotation vector taking the current orientation to the target.
            error_r = (target_rotation * current.inv()).as_rotvec()
            rot_err = float(np.linalg.norm(error_r))
        else:
            error_r, rot_err = np.zeros(0), 0.0
        if pos_err < position_tolerance and rot_err < rotation_tolerance:
            return IKResult(q, pos_err, rot_err, iteration)
        mujoco.mj_jacSite(model, data, jacp, jacr, site_id)
        jac = jacp[:, dofs] if target_rotation is None else np.vstack([jacp[:, dofs], jacr[:, dofs]])
        error = np.concatenate([error_p, error_r])
        # dq = J^T (J J^T + lambda^2 I)^-1 e: well behaved near singular configurations.
        dq = jac.T @ np.linalg.solve(jac @ jac.T + damping**2 * np.eye(jac.shape[0]), error)
        largest = np.max(np.abs(dq))
        if largest > max_step:
            dq *= max_step / largest
        q = np.clip(q + dq, low, high)
    raise IKError(
        f"IK for site {site!r} did not converge: position error {pos_err * 1000:.1f} mm, rotation error "
        f"{np.degrees(rot_err):.1f} deg after {max_iterations} iterations (target out of reach?)"
    )
