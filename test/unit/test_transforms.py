"""molmo_ros.geometry.transforms: rigid transforms between named frames, quaternion checks, messages."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from molmo_ros.errors import (
    ErrorCode,
    TransformError,
)
from molmo_ros.geometry import (
    CameraIntrinsics,
    RigidTransform,
    deproject,
    robust_depths,
)
from support.camera_data import K


# ------------------------------------------------------------------------------------------ transforms
def test_from_xyz_quat_apply_known_rotation() -> None:
    s = math.sqrt(0.5)
    tf = RigidTransform.from_xyz_quat([1.0, 2.0, 3.0], [0.0, 0.0, s, s], "base", "cam")  # 90 deg about z
    np.testing.assert_allclose(tf.apply([1.0, 0.0, 0.0]), [1.0, 3.0, 3.0], atol=1e-12)
    pts = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    out = tf.apply(pts)
    assert out.shape == (3, 3)
    np.testing.assert_allclose(out, [[1.0, 3.0, 3.0], [0.0, 2.0, 3.0], [1.0, 2.0, 4.0]], atol=1e-12)
    assert tf.apply(np.zeros((0, 3))).shape == (0, 3)
    with pytest.raises(TransformError, match=r"\(N, 3\)"):
        tf.apply(np.zeros((2, 4)))


def test_identity() -> None:
    tf = RigidTransform.identity("world")
    assert tf.parent_frame == tf.child_frame == "world"
    np.testing.assert_array_equal(tf.as_matrix(), np.eye(4))


def test_inverse_and_compose() -> None:
    rng = np.random.default_rng(2)
    a = RigidTransform(Rotation.random(random_state=3), rng.normal(size=3), "world", "base")
    b = RigidTransform(Rotation.random(random_state=4), rng.normal(size=3), "base", "cam")
    pts = rng.normal(size=(50, 3))
    np.testing.assert_allclose(a.inverse().apply(a.apply(pts)), pts, atol=1e-12)
    assert (a.inverse().parent_frame, a.inverse().child_frame) == ("base", "world")
    ab = a.compose(b)
    assert (ab.parent_frame, ab.child_frame) == ("world", "cam")
    np.testing.assert_allclose(ab.apply(pts), a.apply(b.apply(pts)), atol=1e-12)
    np.testing.assert_allclose(ab.as_matrix(), a.as_matrix() @ b.as_matrix(), atol=1e-12)
    assert (a @ b).allclose(ab)
    assert a.compose(a.inverse()).allclose(RigidTransform.identity("world"), atol=1e-12)
    with pytest.raises(TransformError, match="'cam' and 'world' differ") as info:
        b.compose(a)
    assert info.value.code == ErrorCode.TRANSFORM_FAILED


def test_matrix_round_trip_and_validation() -> None:
    tf = RigidTransform.from_xyz_rpy([0.1, -0.2, 0.3], [0.3, -0.2, 1.0], "a", "b")
    assert RigidTransform.from_matrix(tf.as_matrix(), "a", "b").allclose(tf)
    bad = tf.as_matrix()
    bad[:3, :3] *= 2.0
    with pytest.raises(TransformError, match="proper rotation"):
        RigidTransform.from_matrix(bad, "a", "b")
    mirror = np.diag([1.0, 1.0, -1.0, 1.0])
    with pytest.raises(TransformError, match="proper rotation"):
        RigidTransform.from_matrix(mirror, "a", "b")
    with pytest.raises(TransformError, match="4x4"):
        RigidTransform.from_matrix(np.eye(3), "a", "b")
    bottom = np.eye(4)
    bottom[3, 0] = 1.0
    with pytest.raises(TransformError, match="bottom row"):
        RigidTransform.from_matrix(bottom, "a", "b")


def test_from_xyz_rpy_follows_urdf() -> None:
    r, p, y = 0.3, -0.4, 1.2
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    tf = RigidTransform.from_xyz_rpy([1, 2, 3], [r, p, y], "parent", "child")
    np.testing.assert_allclose(tf.rotation.as_matrix(), rz @ ry @ rx, atol=1e-12)
    np.testing.assert_allclose(tf.translation, [1, 2, 3])


@pytest.mark.parametrize(
    ("quat", "fragment"),
    [
        ([0.0, 0.0, 0.0, 0.0], "zero"),
        ([0.0, 0.0, 0.0, 2.0], "not unit length (norm 2)"),
        ([0.0, 0.0, 0.0, 0.99], "not unit length"),
        ([np.nan, 0.0, 0.0, 1.0], "non-finite"),
        ([0.0, 0.0, 1.0], "4 values"),
    ],
)
def test_bad_quaternions(quat, fragment: str) -> None:
    with pytest.raises(TransformError) as info:
        RigidTransform.from_xyz_quat([0, 0, 0], quat, "a", "b")
    assert fragment in str(info.value)


def test_nearly_unit_quaternion_is_normalised() -> None:
    q = np.array([0.1, 0.2, 0.3, 0.9])
    q = q / np.linalg.norm(q) * 1.004  # |q.q - 1| ~ 0.008 <= 0.01, as tf2 accepts
    tf = RigidTransform.from_xyz_quat([0, 0, 0], q, "a", "b")
    np.testing.assert_allclose(tf.rotation.as_quat(), q / np.linalg.norm(q), atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"translation": [0.0, np.nan, 0.0]}, "non-finite"),
        ({"translation": [0.0, 0.0]}, "3 values"),
        ({"parent_frame": ""}, "parent_frame"),
        ({"child_frame": None}, "child_frame"),
        ({"rotation": Rotation.random(2, random_state=0)}, "single"),
    ],
)
def test_bad_transform_fields(kwargs: dict, fragment: str) -> None:
    fields = dict(
        rotation=Rotation.identity(), translation=[0.0, 0.0, 0.0], parent_frame="a", child_frame="b"
    )
    fields.update(kwargs)
    with pytest.raises(TransformError) as info:
        RigidTransform(**fields)
    assert fragment in str(info.value)


def test_transform_is_immutable() -> None:
    tf = RigidTransform.from_xyz_quat([1, 2, 3], [0, 0, 0, 1], "a", "b")
    with pytest.raises(ValueError):
        tf.translation[0] = 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        tf.parent_frame = "c"  # type: ignore[misc]
    xyz, q = tf.as_xyz_quat()
    xyz[0] = 9.0
    assert tf.translation[0] == 1.0 and q.tolist() == [0, 0, 0, 1]


def test_from_transform_stamped_duck_typed() -> None:
    msg = SimpleNamespace(
        header=SimpleNamespace(frame_id="base_link"),
        child_frame_id="camera_optical",
        transform=SimpleNamespace(
            translation=SimpleNamespace(x=0.5, y=0.0, z=1.0),
            rotation=SimpleNamespace(x=0.0, y=0.0, z=0.0, w=1.0),
        ),
    )
    tf = RigidTransform.from_transform_stamped(msg)
    assert (tf.parent_frame, tf.child_frame) == ("base_link", "camera_optical")
    np.testing.assert_allclose(tf.translation, [0.5, 0.0, 1.0])
    with pytest.raises(TransformError, match="missing field"):
        RigidTransform.from_transform_stamped(SimpleNamespace(header=msg.header))


def test_pixel_to_base_frame_end_to_end() -> None:
    """A camera 1 m above the table looking straight down: the principal point lands right below it."""
    cam = CameraIntrinsics.from_k(K, 640, 480)
    # Optical frame: z forward (down to the table), x right, y down in the image. Mount: roll by pi about x.
    base_from_cam = RigidTransform.from_xyz_rpy([0.4, 0.0, 1.0], [math.pi, 0.0, 0.0], "base_link", "cam")
    depth = np.full((480, 640), 1.0, np.float32)
    uv = np.array([[319.5, 239.5], [319.5 + 525.0 * 0.1, 239.5]])
    z, valid = robust_depths(depth, uv)
    assert valid.all()
    pts = base_from_cam.apply(deproject(cam, uv[:, 0], uv[:, 1], z))
    np.testing.assert_allclose(pts, [[0.4, 0.0, 0.0], [0.5, 0.0, 0.0]], atol=1e-9)


def test_real_transform_stamped_message() -> None:
    from geometry_msgs import msg as gm

    msg = gm.TransformStamped()
    msg.header.frame_id, msg.child_frame_id = "base_link", "cam"
    msg.transform.translation.x = 0.25
    msg.transform.rotation.z, msg.transform.rotation.w = math.sqrt(0.5), math.sqrt(0.5)
    tf = RigidTransform.from_transform_stamped(msg)
    np.testing.assert_allclose(tf.apply([1.0, 0.0, 0.0]), [0.25, 1.0, 0.0], atol=1e-12)
