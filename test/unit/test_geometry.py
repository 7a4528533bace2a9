"""Unit tests for molmo_ros.geometry: intrinsics, (de)projection, robust depth, rigid transforms."""

from __future__ import annotations

import dataclasses
import math
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from molmo_ros.errors import (
    CameraInfoError,
    DepthError,
    EncodingError,
    ErrorCode,
    InvalidRequestError,
    TransformError,
)
from molmo_ros.geometry import (
    CameraIntrinsics,
    RigidTransform,
    deproject,
    depth_to_meters,
    pixels_to_normalized,
    project,
    robust_depth_at,
    robust_depths,
)

K = [525.0, 0.0, 319.5, 0.0, 520.0, 239.5, 0.0, 0.0, 1.0]
PLUMB_BOB = (0.12, -0.25, 0.001, -0.0015, 0.08)
RATIONAL = (0.1, -0.05, 0.0008, 0.0012, 0.01, 0.02, -0.01, 0.005)
EQUIDISTANT = (0.05, -0.01, 0.002, -0.0005)


@pytest.fixture
def cam() -> CameraIntrinsics:
    return CameraIntrinsics.from_k(K, 640, 480)


def camera_info(**overrides):
    """A duck-typed CameraInfo with the fields of sensor_msgs/CameraInfo."""
    fields = dict(
        k=list(K),
        p=[525.0, 0.0, 319.5, 0.0, 0.0, 520.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0],
        width=640,
        height=480,
        distortion_model="plumb_bob",
        d=[0.0] * 5,
        binning_x=0,
        binning_y=0,
        roi=SimpleNamespace(x_offset=0, y_offset=0, width=0, height=0, do_rectify=False),
    )
    fields.update(overrides)
    return SimpleNamespace(**fields)


# ------------------------------------------------------------------------------------------ intrinsics
def test_from_k_fields_and_to_k(cam: CameraIntrinsics) -> None:
    assert (cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height) == (525.0, 520.0, 319.5, 239.5, 640, 480)
    assert not cam.has_distortion
    np.testing.assert_array_equal(cam.to_k(), np.array(K).reshape(3, 3))
    assert CameraIntrinsics.from_k(np.array(K).reshape(3, 3), 640, 480) == cam


def test_intrinsics_are_frozen(cam: CameraIntrinsics) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        cam.fx = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("k", "width", "height", "fragment"),
    [
        ([0.0, 0, 319.5, 0, 520, 239.5, 0, 0, 1], 640, 480, "focal length fx=0.0"),
        ([-525.0, 0, 319.5, 0, 520, 239.5, 0, 0, 1], 640, 480, "focal length fx=-525.0"),
        ([525.0, 0, 319.5, 0, 0, 239.5, 0, 0, 1], 640, 480, "focal length fy=0.0"),
        ([math.nan, 0, 319.5, 0, 520, 239.5, 0, 0, 1], 640, 480, "non-finite"),
        ([math.inf, 0, 319.5, 0, 520, 239.5, 0, 0, 1], 640, 480, "non-finite"),
        ([0.0] * 9, 640, 480, "not calibrated"),
        (K[:8], 640, 480, "9 values"),
        ([525.0, 1.5, 319.5, 0, 520, 239.5, 0, 0, 1], 640, 480, "skew"),
        ([525.0, 0, 319.5, 2.0, 520, 239.5, 0, 0, 1], 640, 480, "K[1][0]"),
        ([525.0, 0, 319.5, 0, 520, 239.5, 0, 0, 2], 640, 480, "last row of K"),
        ([525.0, 0, 319.5, 0, 520, 239.5, 0.1, 0, 1], 640, 480, "last row of K"),
        (K, 0, 480, "width=0"),
        (K, 640, -1, "height=-1"),
        (K, 640.5, 480, "width=640.5"),
        ("abc", 640, 480, "not numeric"),
    ],
)
def test_from_k_rejects(k, width, height, fragment: str) -> None:
    with pytest.raises(CameraInfoError, match=None) as info:
        CameraIntrinsics.from_k(k, width, height)
    assert fragment in str(info.value)
    assert info.value.code == ErrorCode.NO_CAMERA_INFO


def test_direct_construction_validates() -> None:
    with pytest.raises(CameraInfoError, match="fx is not finite"):
        CameraIntrinsics(math.nan, 500, 320, 240, 640, 480)
    with pytest.raises(CameraInfoError, match="cy is not a number"):
        CameraIntrinsics(500, 500, 320, None, 640, 480)  # type: ignore[arg-type]


def test_zero_or_empty_distortion_is_fine_for_any_model() -> None:
    for model, d in [("plumb_bob", (0.0,) * 5), ("", ()), ("equidistant", (0.0,) * 4), ("weird", (0.0, 0.0))]:
        cam = CameraIntrinsics.from_k(K, 640, 480, model, d)
        assert not cam.has_distortion


@pytest.mark.parametrize(
    ("model", "d", "fragment"),
    [
        ("kannala_brandt", (0.1, 0.0, 0.0, 0.0), "'kannala_brandt' with non-zero coefficients"),
        ("", (0.1, 0.0, 0.0, 0.0, 0.0), "not supported"),
        ("plumb_bob", (0.1, 0.0, 0.0), "needs 4 / 5 / 8 / 12 / 14 coefficients, got 3"),
        ("equidistant", (0.1, 0.0, 0.0, 0.0, 0.0), "needs 4 coefficients, got 5"),
        ("plumb_bob", (0.1, math.nan, 0.0, 0.0, 0.0), "not finite"),
    ],
)
def test_distortion_rejected_with_reason(model: str, d, fragment: str) -> None:
    with pytest.raises(CameraInfoError) as info:
        CameraIntrinsics.from_k(K, 640, 480, model, d)
    assert fragment in str(info.value)


@pytest.mark.parametrize(("model", "d"), [("plumb_bob", PLUMB_BOB), ("rational_polynomial", RATIONAL)])
def test_supported_distortion_accepted(model: str, d) -> None:
    cam = CameraIntrinsics.from_k(K, 640, 480, model, d)
    assert cam.has_distortion and cam.d == tuple(d) and cam.distortion_model == model


def test_from_camera_info_duck_typed() -> None:
    cam = CameraIntrinsics.from_camera_info(camera_info(d=list(PLUMB_BOB)))
    assert cam == CameraIntrinsics.from_k(K, 640, 480, "plumb_bob", PLUMB_BOB)
    # Only k, width, height are required; distortion fields are optional on a duck-typed object.
    bare = CameraIntrinsics.from_camera_info(SimpleNamespace(k=K, width=640, height=480))
    assert not bare.has_distortion and bare.fx == 525.0


def test_from_camera_info_full_roi_is_fine() -> None:
    roi = SimpleNamespace(x_offset=0, y_offset=0, width=640, height=480)
    assert CameraIntrinsics.from_camera_info(camera_info(roi=roi)).width == 640


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"binning_x": 2}, "binning_x=2"),
        ({"binning_y": 4}, "binning_y=4"),
        ({"roi": SimpleNamespace(x_offset=10, y_offset=0, width=100, height=100)}, "region of interest"),
        ({"roi": SimpleNamespace(x_offset=0, y_offset=0, width=320, height=240)}, "region of interest"),
        ({"k": [0.0] * 9}, "not calibrated"),
        ({"width": 0}, "width=0"),
        ({"distortion_model": "equidistant", "d": [0.1, 0.0, 0.0, 0.0, 0.0]}, "needs 4 coefficients"),
    ],
)
def test_from_camera_info_rejects(overrides: dict, fragment: str) -> None:
    with pytest.raises(CameraInfoError) as info:
        CameraIntrinsics.from_camera_info(camera_info(**overrides))
    assert fragment in str(info.value)


def test_from_camera_info_missing_field() -> None:
    with pytest.raises(CameraInfoError, match="missing field"):
        CameraIntrinsics.from_camera_info(SimpleNamespace(width=640, height=480))


def test_from_camera_info_rectified_uses_p_without_distortion() -> None:
    p = [600.0, 0.0, 321.0, 0.0, 0.0, 601.0, 238.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    cam = CameraIntrinsics.from_camera_info(camera_info(p=p, d=list(PLUMB_BOB)), rectified=True)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (600.0, 601.0, 321.0, 238.0)
    assert not cam.has_distortion
    stereo = list(p)
    stereo[3] = -30.0
    with pytest.raises(CameraInfoError, match="stereo baseline"):
        CameraIntrinsics.from_camera_info(camera_info(p=stereo), rectified=True)
    with pytest.raises(CameraInfoError, match="12 values"):
        CameraIntrinsics.from_camera_info(camera_info(p=p[:9]), rectified=True)


def test_contains_uses_pixel_centre_convention(cam: CameraIntrinsics) -> None:
    assert cam.contains(0, 0) and cam.contains(-0.5, -0.5) and cam.contains(639.4, 479.4)
    assert not cam.contains(-0.51, 10) and not cam.contains(639.5, 10) and not cam.contains(10, 479.5)
    np.testing.assert_array_equal(cam.contains(np.array([0.0, 700.0]), np.array([0.0, 0.0])), [True, False])


def test_require_image_size(cam: CameraIntrinsics) -> None:
    cam.require_image_size(640, 480)
    with pytest.raises(CameraInfoError, match="640x480 images but the image is 320x240"):
        cam.require_image_size(320, 240)


# ------------------------------------------------------------------------------------------ deproject
def test_deproject_known_values(cam: CameraIntrinsics) -> None:
    np.testing.assert_allclose(deproject(cam, 319.5, 239.5, 2.0), [0.0, 0.0, 2.0])
    # One focal length right of the principal point at depth z is z meters to the right.
    np.testing.assert_allclose(deproject(cam, 319.5 + 525.0, 239.5, 1.5), [1.5, 0.0, 1.5])
    np.testing.assert_allclose(deproject(cam, 319.5, 239.5 - 260.0, 1.0), [0.0, -0.5, 1.0])
    # Pixel (0, 0) is the centre of the top-left pixel: up and left (x < 0, y < 0 in the optical frame).
    np.testing.assert_allclose(deproject(cam, 0.0, 0.0, 1.0), [-319.5 / 525.0, -239.5 / 520.0, 1.0])


def test_deproject_shapes_and_broadcasting(cam: CameraIntrinsics) -> None:
    assert deproject(cam, 10.0, 20.0, 1.0).shape == (3,)
    u = np.array([0.0, 100.0, 639.0])
    v = np.array([0.0, 200.0, 479.0])
    pts = deproject(cam, u, v, 2.0)
    assert pts.shape == (3, 3) and pts.dtype == np.float64
    np.testing.assert_allclose(pts[:, 2], 2.0)
    for i in range(3):
        np.testing.assert_allclose(pts[i], deproject(cam, u[i], v[i], 2.0))
    assert deproject(cam, np.zeros(0), np.zeros(0), np.zeros(0)).shape == (0, 3)


def test_deproject_rejects_bad_shapes(cam: CameraIntrinsics) -> None:
    with pytest.raises(InvalidRequestError, match="1-D"):
        deproject(cam, np.zeros((2, 2)), np.zeros((2, 2)), 1.0)
    with pytest.raises(InvalidRequestError, match="do not broadcast"):
        deproject(cam, np.zeros(3), np.zeros(2), 1.0)


def test_deproject_nan_depth_gives_nan(cam: CameraIntrinsics) -> None:
    pts = deproject(cam, np.array([10.0, 20.0]), np.array([10.0, 20.0]), np.array([np.nan, 1.0]))
    assert np.all(np.isnan(pts[0])) and np.all(np.isfinite(pts[1]))


def _random_pixels(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.stack([rng.uniform(-0.5, 639.5, n), rng.uniform(-0.5, 479.5, n)], axis=1)


@pytest.mark.parametrize(
    ("model", "d"),
    [
        ("plumb_bob", ()),
        ("plumb_bob", PLUMB_BOB),
        ("rational_polynomial", RATIONAL),
        ("equidistant", EQUIDISTANT),
    ],
)
def test_project_deproject_round_trip(model: str, d) -> None:
    cam = CameraIntrinsics.from_k(K, 640, 480, model, d)
    rng = np.random.default_rng(0)
    uv = _random_pixels(rng, 500)
    z = rng.uniform(0.1, 8.0, 500)
    pts = deproject(cam, uv[:, 0], uv[:, 1], z)
    np.testing.assert_allclose(pts[:, 2], z)
    np.testing.assert_allclose(project(cam, pts), uv, atol=1e-6)
    # And from 3D: points in front of the camera within the field of view.
    p3 = np.stack(
        [rng.uniform(-0.4, 0.4, 200), rng.uniform(-0.3, 0.3, 200), rng.uniform(0.5, 5, 200)], axis=1
    )
    uv2 = project(cam, p3)
    np.testing.assert_allclose(deproject(cam, uv2[:, 0], uv2[:, 1], p3[:, 2]), p3, atol=1e-9)


@pytest.mark.parametrize(("model", "d"), [("plumb_bob", PLUMB_BOB), ("equidistant", EQUIDISTANT)])
def test_distortion_is_applied_not_ignored(model: str, d) -> None:
    plain = CameraIntrinsics.from_k(K, 640, 480)
    dist = CameraIntrinsics.from_k(K, 640, 480, model, d)
    # At the principal point distortion changes nothing; near a corner it moves the ray noticeably.
    np.testing.assert_allclose(deproject(dist, 319.5, 239.5, 1.0), [0.0, 0.0, 1.0], atol=1e-12)
    corner_plain, corner_dist = deproject(plain, 5.0, 5.0, 1.0), deproject(dist, 5.0, 5.0, 1.0)
    assert np.linalg.norm(corner_plain - corner_dist) > 1e-3


def test_undistortion_matches_opencv() -> None:
    import cv2

    cam = CameraIntrinsics.from_k(K, 640, 480, "plumb_bob", PLUMB_BOB)
    uv = np.array([[10.0, 20.0], [600.0, 400.0], [319.5, 239.5]])
    ref = cv2.undistortPoints(uv.reshape(-1, 1, 2), cam.to_k(), np.array(PLUMB_BOB)).reshape(-1, 2)
    # OpenCV's default stops after 5 iterations; ours iterates to convergence: agree to ~1e-3.
    np.testing.assert_allclose(pixels_to_normalized(cam, uv), ref, atol=2e-3)


def test_pixels_to_normalized_non_finite_rows() -> None:
    cam = CameraIntrinsics.from_k(K, 640, 480, "plumb_bob", PLUMB_BOB)
    out = pixels_to_normalized(cam, np.array([[np.nan, 1.0], [319.5, 239.5]]))
    assert np.all(np.isnan(out[0])) and np.allclose(out[1], 0.0)


def test_project_behind_camera_and_shapes(cam: CameraIntrinsics) -> None:
    uv = project(cam, np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.1, 0.1, -1.0], [np.nan, 0.0, 1.0]]))
    np.testing.assert_allclose(uv[0], [319.5, 239.5])
    assert np.all(np.isnan(uv[1:]))
    assert project(cam, np.array([0.0, 0.0, 1.0])).shape == (2,)
    with pytest.raises(InvalidRequestError, match=r"\(N, 3\)"):
        project(cam, np.zeros((4, 2)))


# ------------------------------------------------------------------------------------------ depth
def test_depth_to_meters_16uc1() -> None:
    raw = np.array([[0, 1000], [1500, 65535]], dtype=np.uint16)
    m = depth_to_meters(raw, "16UC1")
    assert m.dtype == np.float32 and m.shape == (2, 2)
    assert np.isnan(m[0, 0])
    np.testing.assert_allclose(m[0, 1:], [1.0])
    np.testing.assert_allclose(m[1], [1.5, 65.535], rtol=1e-6)


def test_depth_to_meters_32fc1_copies() -> None:
    raw = np.array([[0.5, np.nan], [np.inf, 2.0]], dtype=np.float32)
    m = depth_to_meters(raw[:, :, None], "32FC1")
    assert m.dtype == np.float32 and m.shape == (2, 2)
    np.testing.assert_array_equal(m, raw)
    m[0, 0] = 9.0
    assert raw[0, 0] == 0.5


@pytest.mark.parametrize(
    ("arr", "encoding", "fragment"),
    [
        (np.zeros((2, 2), np.uint16), "mono16", "unsupported depth encoding 'mono16'"),
        (np.zeros((2, 2), np.uint8), "rgb8", "supported: 16UC1, 32FC1"),
        (np.zeros((2, 2), np.float32), "16UC1", "uint16"),
        (np.zeros((2, 2), np.uint16), "32FC1", "float"),
        (np.zeros((2, 2, 3), np.uint16), "16UC1", "(H, W)"),
    ],
)
def test_depth_to_meters_rejects(arr: np.ndarray, encoding: str, fragment: str) -> None:
    with pytest.raises(EncodingError) as info:
        depth_to_meters(arr, encoding)
    assert fragment in str(info.value)
    assert info.value.code == ErrorCode.UNSUPPORTED_ENCODING


def test_robust_depth_uniform_and_median() -> None:
    d = np.full((20, 30), 1.5, np.float32)
    assert robust_depth_at(d, 10, 10) == pytest.approx(1.5)
    # Two spikes in the window do not move the median.
    d[9, 9], d[11, 12] = 9.0, 0.2
    assert robust_depth_at(d, 10, 10) == pytest.approx(1.5)
    ramp = np.tile(np.arange(30, dtype=np.float32) * 0.1 + 1.0, (20, 1))
    assert robust_depth_at(ramp, 15, 10, window=5) == pytest.approx(2.5)


def test_robust_depth_rejects_invalid_readings() -> None:
    d = np.full((20, 20), 2.0, np.float32)
    # Fill a 5x5 window at (10, 10) with invalid values, except three valid readings with median 1.0.
    bad = [0.0, np.nan, np.inf, -np.inf, 0.01, 50.0]
    for i, (r, c) in enumerate((r, c) for r in range(8, 13) for c in range(8, 13)):
        d[r, c] = bad[i % len(bad)]
    d[8, 8], d[10, 10], d[12, 12] = 0.9, 1.0, 1.1
    with pytest.raises(DepthError) as info:  # 3 of 25 < 20 %
        robust_depth_at(d, 10, 10)
    assert "3 of 25" in str(info.value) and "(10, 10)" in str(info.value) and "need 5" in str(info.value)
    assert info.value.code == ErrorCode.NO_DEPTH
    assert robust_depth_at(d, 10, 10, min_valid_fraction=0.1) == pytest.approx(1.0)
    # The range limits are inclusive parameters: widen them and 0.01 / 50 become valid.
    assert robust_depth_at(d, 10, 10, min_m=0.0, max_m=100.0) > 0.0


def test_robust_depth_all_invalid() -> None:
    d = np.zeros((10, 10), np.float32)
    with pytest.raises(DepthError, match="0 of 25"):
        robust_depth_at(d, 5, 5)


def test_robust_depth_window_clipped_at_borders() -> None:
    d = np.full((10, 10), np.nan, np.float32)
    d[0, 0], d[0, 1] = 1.0, 3.0  # 2 of the 9 in-image pixels of the corner's 5x5 window
    assert robust_depth_at(d, 0, 0) == pytest.approx(2.0)
    d[0, 1] = np.nan
    with pytest.raises(DepthError, match="1 of 9"):  # need ceil(0.2 * 9) = 2
        robust_depth_at(d, 0, 0)
    d[9, 9] = 4.0
    assert robust_depth_at(d, 9.4, 9.4, min_valid_fraction=0.1) == pytest.approx(4.0)


def test_robust_depth_rounding_and_outside() -> None:
    d = np.tile(np.arange(10, dtype=np.float32) + 1.0, (10, 1))
    assert robust_depth_at(d, 2.5, 4, window=1) == 4.0  # half rounds up: column 3
    assert robust_depth_at(d, 2.49, 4, window=1) == 3.0
    assert robust_depth_at(d, -0.4, 0, window=1) == 1.0  # still inside the first pixel
    for u, v in [(-0.6, 5), (9.5, 5), (5, -1), (5, 12)]:
        with pytest.raises(DepthError) as info:
            robust_depth_at(d, u, v)
        assert "outside the 10x10 depth image" in str(info.value)
        assert info.value.code == ErrorCode.POINT_OUTSIDE_IMAGE


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"window": 4}, "odd"),
        ({"window": 0}, "odd"),
        ({"window": -3}, "odd"),
        ({"window": 3.0}, "odd"),
        ({"min_m": 2.0, "max_m": 1.0}, "min_m < max_m"),
        ({"min_valid_fraction": 0.0}, "min_valid_fraction"),
        ({"min_valid_fraction": 1.5}, "min_valid_fraction"),
    ],
)
def test_robust_depth_bad_parameters(kwargs: dict, fragment: str) -> None:
    d = np.ones((10, 10), np.float32)
    with pytest.raises(InvalidRequestError) as info:
        robust_depth_at(d, 5, 5, **kwargs)
    assert fragment in str(info.value)
    with pytest.raises(InvalidRequestError):
        robust_depths(d, np.array([[5.0, 5.0]]), **kwargs)


def test_robust_depth_bad_inputs() -> None:
    with pytest.raises(InvalidRequestError, match="finite"):
        robust_depth_at(np.ones((4, 4), np.float32), np.nan, 1)
    with pytest.raises(InvalidRequestError, match="depth_to_meters"):
        robust_depth_at(np.ones((4, 4), np.uint16), 1, 1)
    with pytest.raises(InvalidRequestError, match=r"\(N, 2\)"):
        robust_depths(np.ones((4, 4), np.float32), np.zeros(3))


def test_robust_depths_vectorised_matches_scalar() -> None:
    rng = np.random.default_rng(1)
    d = rng.uniform(0.3, 4.0, (48, 64)).astype(np.float32)
    holes = rng.random(d.shape) < 0.5
    d[holes] = rng.choice(np.array([0.0, np.nan, np.inf, 20.0], np.float32), holes.sum())
    d[10:20, 10:20] = np.nan  # a big hole: points there have no depth
    uv = np.concatenate(
        [
            np.stack([rng.uniform(-3, 67, 300), rng.uniform(-3, 51, 300)], axis=1),
            [[15.0, 15.0], [np.nan, 3.0], [2.0, np.inf]],
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "All-NaN slice" or similar warnings
        depths, valid = robust_depths(d, uv, window=3, min_valid_fraction=0.5)
    assert depths.shape == valid.shape == (uv.shape[0],) and valid.dtype == bool
    assert not valid[-3:].any() and np.all(np.isnan(depths[~valid]))
    assert valid.any() and (~valid).any()
    for (u, v), dep, ok in zip(uv, depths, valid, strict=True):
        if not (np.isfinite(u) and np.isfinite(v)):
            continue
        try:
            ref = robust_depth_at(d, u, v, window=3, min_valid_fraction=0.5)
        except DepthError:
            assert not ok
        else:
            assert ok and dep == pytest.approx(ref)


def test_robust_depths_empty() -> None:
    depths, valid = robust_depths(np.ones((4, 4), np.float32), np.zeros((0, 2)))
    assert depths.shape == (0,) and valid.shape == (0,)


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


# ------------------------------------------------------------------------------------------ real messages
def test_real_camera_info_message() -> None:
    from sensor_msgs import msg as msgs

    info = msgs.CameraInfo()
    info.width, info.height = 640, 480
    info.k = K
    info.distortion_model = "plumb_bob"
    info.d = list(PLUMB_BOB)
    info.p = [600.0, 0.0, 320.0, 0.0, 0.0, 600.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    cam = CameraIntrinsics.from_camera_info(info)
    assert cam == CameraIntrinsics.from_k(K, 640, 480, "plumb_bob", PLUMB_BOB)
    rect = CameraIntrinsics.from_camera_info(info, rectified=True)
    assert (rect.fx, rect.cx, rect.has_distortion) == (600.0, 320.0, False)
    with pytest.raises(CameraInfoError, match="not calibrated"):
        CameraIntrinsics.from_camera_info(msgs.CameraInfo(width=640, height=480))


def test_real_transform_stamped_message() -> None:
    from geometry_msgs import msg as gm

    msg = gm.TransformStamped()
    msg.header.frame_id, msg.child_frame_id = "base_link", "cam"
    msg.transform.translation.x = 0.25
    msg.transform.rotation.z, msg.transform.rotation.w = math.sqrt(0.5), math.sqrt(0.5)
    tf = RigidTransform.from_transform_stamped(msg)
    np.testing.assert_allclose(tf.apply([1.0, 0.0, 0.0]), [0.25, 1.0, 0.0], atol=1e-12)
