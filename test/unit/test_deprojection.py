"""molmo_ros.geometry: (de)projection with distortion, depth encodings and the robust depth at a point."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from molmo_ros.errors import (
    DepthError,
    EncodingError,
    ErrorCode,
    InvalidRequestError,
)
from molmo_ros.geometry import (
    CameraIntrinsics,
    deproject,
    depth_to_meters,
    pixels_to_normalized,
    project,
    robust_depth_at,
    robust_depths,
)
from support.camera_data import EQUIDISTANT, PLUMB_BOB, RATIONAL, K


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
