"""Rigid transforms between named frames (the tf2 convention), on top of scipy's ``Rotation``.

A :class:`RigidTransform` with ``parent_frame="base_link"`` and ``child_frame="camera_optical"`` maps points
expressed in the child frame into the parent frame: ``p_parent = R @ p_child + t`` (what
``tf2 lookup_transform(target=parent, source=child)`` returns). Translations are in meters, quaternions are
``(x, y, z, w)`` as in ``geometry_msgs/Quaternion``, roll-pitch-yaw angles are in radians as in URDF.

Quaternions: a zero, non-finite or clearly non-unit quaternion is rejected with a reason; one whose squared
norm is within 0.01 of 1 is normalised. That is tf2's own rule (``BufferCore::setTransform`` rejects
``|q.q - 1| > 0.01`` as TF_DENORMALIZED_QUATERNION and normalises the rest), so anything tf2 accepts is
accepted here and a bug that scales a quaternion is not silently hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from molmo_ros.errors import TransformError

#: Largest accepted ``|q . q - 1|`` before a quaternion is rejected (tf2's tolerance).
QUATERNION_NORM_TOLERANCE = 0.01
# Largest accepted deviation of R^T R from the identity in from_matrix.
_ORTHONORMAL_TOL = 1e-6


def _vector3(name: str, value: Any) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise TransformError(f"{name} is not numeric: {value!r}") from exc
    if arr.shape != (3,):
        raise TransformError(f"{name} must have 3 values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise TransformError(f"{name} has non-finite values: {arr.tolist()}")
    return arr


def _frame(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TransformError(f"{name} must be a non-empty frame name, got {value!r}")
    return value


def rotation_from_quat(quat_xyzw: Sequence[float]) -> Rotation:
    """A scipy Rotation from an ``(x, y, z, w)`` quaternion, validated as described in the module docstring.

    Raises:
        TransformError: not 4 values, non-finite, zero, or ``|q . q - 1| > 0.01``.
    """
    try:
        q = np.asarray(quat_xyzw, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise TransformError(f"quaternion is not numeric: {quat_xyzw!r}") from exc
    if q.shape != (4,):
        raise TransformError(f"quaternion must have 4 values (x, y, z, w), got {q.size}")
    if not np.all(np.isfinite(q)):
        raise TransformError(f"quaternion has non-finite values: {q.tolist()}")
    norm2 = float(q @ q)
    if norm2 == 0.0:
        raise TransformError("quaternion is zero (an uninitialised orientation?)")
    if abs(norm2 - 1.0) > QUATERNION_NORM_TOLERANCE:
        raise TransformError(
            f"quaternion {q.tolist()} is not unit length (norm {np.sqrt(norm2):.6g}); "
            f"|q.q - 1| must be <= {QUATERNION_NORM_TOLERANCE}"
        )
    return Rotation.from_quat(q / np.sqrt(norm2))


@dataclass(frozen=True, eq=False)
class RigidTransform:
    """``p_parent = rotation.apply(p_child) + translation``.

    Attributes:
        rotation: a single scipy Rotation (child axes expressed in the parent frame).
        translation: (3,) float64 meters, the child origin in the parent frame (read-only copy).
        parent_frame, child_frame: frame names.
    """

    rotation: Rotation
    translation: np.ndarray
    parent_frame: str
    child_frame: str

    def __post_init__(self) -> None:
        if not isinstance(self.rotation, Rotation) or not self.rotation.single:
            raise TransformError(f"rotation must be a single scipy Rotation, got {self.rotation!r}")
        if not np.all(np.isfinite(self.rotation.as_quat())):
            raise TransformError("rotation has non-finite values")
        t = _vector3("translation", self.translation)
        t.setflags(write=False)  # frozen means frozen: nobody edits a shared transform in place
        object.__setattr__(self, "translation", t)
        _frame("parent_frame", self.parent_frame)
        _frame("child_frame", self.child_frame)

    @classmethod
    def from_xyz_quat(
        cls, xyz: Sequence[float], quat_xyzw: Sequence[float], parent: str, child: str
    ) -> RigidTransform:
        """From a translation (meters) and an ``(x, y, z, w)`` quaternion (see :func:`rotation_from_quat`)."""
        return cls(rotation_from_quat(quat_xyzw), _vector3("translation", xyz), parent, child)

    @classmethod
    def from_xyz_rpy(
        cls, xyz: Sequence[float], rpy: Sequence[float], parent: str, child: str
    ) -> RigidTransform:
        """From a translation (meters) and URDF roll, pitch, yaw (radians, fixed axes X then Y then Z,
        i.e. ``R = Rz(yaw) @ Ry(pitch) @ Rx(roll)``)."""
        angles = _vector3("rpy", rpy)
        return cls(Rotation.from_euler("xyz", angles), _vector3("translation", xyz), parent, child)

    @classmethod
    def from_matrix(cls, matrix: np.ndarray, parent: str, child: str) -> RigidTransform:
        """From a (4, 4) homogeneous matrix whose top-left 3x3 is a proper rotation.

        Raises:
            TransformError: wrong shape, non-finite, bottom row not ``[0, 0, 0, 1]``, or a 3x3 block that is
                not orthonormal with determinant +1.
        """
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape != (4, 4):
            raise TransformError(f"transform matrix must be 4x4, got {m.shape}")
        if not np.all(np.isfinite(m)):
            raise TransformError("transform matrix has non-finite values")
        if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0]):
            raise TransformError(f"transform matrix bottom row must be [0, 0, 0, 1], got {m[3].tolist()}")
        r = m[:3, :3]
        if not np.allclose(r.T @ r, np.eye(3), atol=_ORTHONORMAL_TOL) or np.linalg.det(r) <= 0.0:
            raise TransformError(
                "transform matrix rotation block is not a proper rotation (orthonormal, det +1)"
            )
        return cls(Rotation.from_matrix(r), m[:3, 3], parent, child)

    @classmethod
    def from_transform_stamped(cls, msg: Any) -> RigidTransform:
        """From a ``geometry_msgs/TransformStamped`` (or any object with its fields), e.g. a tf2 lookup."""
        try:
            t, q = msg.transform.translation, msg.transform.rotation
            return cls.from_xyz_quat(
                (t.x, t.y, t.z), (q.x, q.y, q.z, q.w), msg.header.frame_id, msg.child_frame_id
            )
        except AttributeError as exc:
            raise TransformError(f"not a TransformStamped: missing field ({exc})") from exc

    @classmethod
    def identity(cls, frame: str) -> RigidTransform:
        """The identity from ``frame`` to itself."""
        return cls(Rotation.identity(), np.zeros(3), frame, frame)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Map child-frame points into the parent frame.

        Args:
            points: (N, 3) or (3,) meters.

        Returns:
            Float64 array of the same shape.
        """
        # A copy: scipy's apply refuses read-only buffers (such as our own frozen translation).
        pts = np.array(points, dtype=np.float64)
        if pts.shape[-1:] != (3,) or pts.ndim > 2:
            raise TransformError(f"points must have shape (N, 3) or (3,), got {pts.shape}")
        if pts.ndim == 2 and pts.shape[0] == 0:
            return pts
        return self.rotation.apply(pts) + self.translation

    def inverse(self) -> RigidTransform:
        """The transform from parent to child: ``p_child = R^T (p_parent - t)``."""
        inv = self.rotation.inv()
        return RigidTransform(inv, -inv.apply(self.translation.copy()), self.child_frame, self.parent_frame)

    def compose(self, other: RigidTransform) -> RigidTransform:
        """``self * other``: first ``other`` (its child -> its parent), then ``self``.

        Raises:
            TransformError: when ``other.parent_frame`` is not ``self.child_frame``.
        """
        if other.parent_frame != self.child_frame:
            raise TransformError(
                f"cannot compose {self.parent_frame}<-{self.child_frame} with "
                f"{other.parent_frame}<-{other.child_frame}: frames {self.child_frame!r} and "
                f"{other.parent_frame!r} differ"
            )
        return RigidTransform(
            self.rotation * other.rotation,
            self.apply(other.translation),
            self.parent_frame,
            other.child_frame,
        )

    def __matmul__(self, other: RigidTransform) -> RigidTransform:
        return self.compose(other)

    def as_matrix(self) -> np.ndarray:
        """The (4, 4) float64 homogeneous matrix."""
        m = np.eye(4)
        m[:3, :3] = self.rotation.as_matrix()
        m[:3, 3] = self.translation
        return m

    def as_xyz_quat(self) -> tuple[np.ndarray, np.ndarray]:
        """``(translation (3,), quaternion (x, y, z, w) (4,))``, e.g. to fill a geometry_msgs message."""
        return self.translation.copy(), self.rotation.as_quat()

    def allclose(self, other: RigidTransform, atol: float = 1e-9) -> bool:
        """Same frames and the same matrix up to ``atol``."""
        return (
            self.parent_frame == other.parent_frame
            and self.child_frame == other.child_frame
            and bool(np.allclose(self.as_matrix(), other.as_matrix(), atol=atol))
        )

    def __repr__(self) -> str:
        xyz, q = self.as_xyz_quat()
        return (
            f"RigidTransform({self.parent_frame}<-{self.child_frame}, xyz={np.round(xyz, 6).tolist()}, "
            f"quat_xyzw={np.round(q, 6).tolist()})"
        )


def look_at(
    position: Sequence[float], target: Sequence[float], parent_frame: str, child_frame: str
) -> RigidTransform:
    """The optical frame (x right, y down, z forward; REP 103) of a camera at `position` aimed at `target`
    (both (3,) m in `parent_frame`, z up), with a level horizon: its x axis is horizontal.

    Raises TransformError for a camera looking straight up or down (no level horizon exists) or at itself.
    """
    position = np.asarray(position, dtype=float)
    forward = np.asarray(target, dtype=float) - position
    if not np.linalg.norm(forward) > 1e-9:
        raise TransformError("the camera's target is its own position")
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-6:
        raise TransformError("the camera looks straight up or down; give it a target off the vertical")
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = Rotation.from_matrix(np.column_stack([right, down, forward]))
    return RigidTransform(rotation, position, parent_frame, child_frame)
