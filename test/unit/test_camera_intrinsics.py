"""molmo_ros.geometry.camera: intrinsics from K and CameraInfo, distortion models, image sizes."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest

from molmo_ros.errors import (
    CameraInfoError,
    ErrorCode,
)
from molmo_ros.geometry import (
    CameraIntrinsics,
)
from support.camera_data import PLUMB_BOB, RATIONAL, K, camera_info


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
