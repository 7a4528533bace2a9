"""Unit tests for molmo_ros.conversions.images: Image message <-> numpy, both decoders, RGB conversion."""

from __future__ import annotations

import array
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from molmo_ros.conversions import (
    ENCODINGS,
    SUPPORTED_ENCODINGS,
    ImageData,
    image_to_numpy,
    image_to_rgb,
    numpy_to_image,
    to_rgb,
)
from molmo_ros.errors import EncodingError, ErrorCode

H, W = 5, 7
MACHINE_BIG = sys.byteorder == "big"


def sample(encoding: str, seed: int = 0, h: int = H, w: int = W) -> np.ndarray:
    """A random array of the shape and dtype ``encoding`` decodes to."""
    dtype, channels = ENCODINGS[encoding]
    rng = np.random.default_rng(seed)
    shape = (h, w) if channels == 1 else (h, w, channels)
    if dtype == np.float32:
        arr = rng.uniform(0.1, 5.0, shape).astype(np.float32)
        arr.flat[0] = np.nan  # invalid depth survives the round trip bit for bit
        return arr
    return rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)


def make_msg(arr: np.ndarray, encoding: str, pad: int = 0, big_endian: bool = False, data_type=bytes):
    """A hand-built Image-like message with ``pad`` junk bytes at the end of each row."""
    wire = arr.astype(arr.dtype.newbyteorder(">" if big_endian else "<"))
    rows = wire.reshape(arr.shape[0], -1).view(np.uint8)
    junk = np.full((arr.shape[0], pad), 0xAB, np.uint8)
    buf = np.ascontiguousarray(np.concatenate([rows, junk], axis=1)).tobytes()
    data = data_type(buf) if data_type is not array.array else array.array("B", buf)
    return SimpleNamespace(
        height=arr.shape[0],
        width=arr.shape[1],
        encoding=encoding,
        is_bigendian=int(big_endian),
        step=rows.shape[1] + pad,
        data=data,
    )


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)  # NaNs compare equal here


# ------------------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_round_trip_every_encoding(encoding: str) -> None:
    arr = sample(encoding)
    msg = numpy_to_image(arr, encoding)
    dtype, channels = ENCODINGS[encoding]
    assert isinstance(msg, ImageData)
    assert (msg.height, msg.width, msg.encoding) == (H, W, encoding)
    assert msg.step == W * channels * dtype.itemsize and len(msg.data) == H * msg.step
    assert msg.is_bigendian == int(MACHINE_BIG) and isinstance(msg.data, bytes)
    back = image_to_numpy(msg)
    assert_same(back, arr)
    assert back.flags.c_contiguous and back.flags.writeable


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
@pytest.mark.parametrize("pad", [1, 3, 8, 64])
def test_padded_rows(encoding: str, pad: int) -> None:
    arr = sample(encoding, seed=pad)
    assert_same(image_to_numpy(make_msg(arr, encoding, pad=pad)), arr)


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
@pytest.mark.parametrize("pad", [0, 2, 5])
def test_big_and_little_endian(encoding: str, pad: int) -> None:
    arr = sample(encoding, seed=7)
    for big in (True, False):
        out = image_to_numpy(make_msg(arr, encoding, pad=pad, big_endian=big))
        assert out.dtype.byteorder in ("=", "|") and out.dtype == arr.dtype
        assert_same(out, arr)


def test_is_bigendian_is_ignored_for_bytes() -> None:
    arr = sample("rgb8")
    assert_same(image_to_numpy(make_msg(arr, "rgb8", big_endian=True)), arr)


@pytest.mark.parametrize("data_type", [bytes, bytearray, memoryview, array.array, list])
def test_data_container_types(data_type) -> None:
    arr = sample("16UC1", seed=3)
    assert_same(image_to_numpy(make_msg(arr, "16UC1", pad=2, data_type=data_type)), arr)


def test_decoded_array_does_not_alias_message() -> None:
    arr = sample("mono8")
    msg = make_msg(arr, "mono8", data_type=bytearray)
    out = image_to_numpy(msg)
    msg.data[0] ^= 0xFF
    assert out[0, 0] == arr[0, 0]


def test_numpy_to_image_accepts_single_channel_3d_and_foreign_byte_order() -> None:
    depth = sample("16UC1")
    assert_same(image_to_numpy(numpy_to_image(depth[:, :, None], "16UC1")), depth)
    swapped = depth.astype(depth.dtype.newbyteorder("S"))
    msg = numpy_to_image(swapped, "16UC1")
    assert msg.is_bigendian == int(MACHINE_BIG)
    assert_same(image_to_numpy(msg), depth)
    # A non-contiguous view is fine too.
    rgb = sample("rgb8", h=6, w=8)[::2, ::2]
    assert_same(image_to_numpy(numpy_to_image(rgb, "rgb8")), np.ascontiguousarray(rgb))


def test_header_and_msg_factory() -> None:
    class Msg:  # stores data as array.array, like rclpy messages
        def __init__(self) -> None:
            self.header = "default"
            self.data = array.array("B")

    header = SimpleNamespace(frame_id="camera_optical")
    msg = numpy_to_image(sample("bgr8"), "bgr8", msg_factory=Msg, header=header)
    assert isinstance(msg, Msg) and msg.header is header
    assert isinstance(msg.data, array.array) and msg.data.typecode == "B"
    assert_same(image_to_numpy(msg), sample("bgr8"))
    plain = numpy_to_image(sample("bgr8"), "bgr8", msg_factory=Msg)
    assert plain.header == "default"
    assert numpy_to_image(sample("bgr8"), "bgr8", header=header).header is header


# ------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"encoding": "yuv422"}, "unsupported image encoding 'yuv422' (supported: rgb8, bgr8"),
        ({"encoding": "mono16"}, "'mono16'"),
        ({"step": 3 * W - 1}, f"step {3 * W - 1} is smaller than width*channels*bytes = {W}*3*1"),
        ({"data": b"\x00" * (H * 3 * W - 1)}, f"has {H * 3 * W - 1} bytes but height*step"),
        ({"data": b"\x00" * (H * 3 * W + 1)}, "but height*step"),
        ({"width": 0}, "zero size"),
        ({"height": 0}, "zero size"),
        ({"step": None}, "not numbers"),
    ],
)
def test_image_to_numpy_rejects(overrides: dict, fragment: str) -> None:
    msg = make_msg(sample("rgb8"), "rgb8")
    for key, value in overrides.items():
        setattr(msg, key, value)
    with pytest.raises(EncodingError) as info:
        image_to_numpy(msg)
    assert fragment in str(info.value)
    assert info.value.code == ErrorCode.UNSUPPORTED_ENCODING


def test_image_to_numpy_rejects_non_message() -> None:
    with pytest.raises(EncodingError, match="missing field"):
        image_to_numpy(SimpleNamespace(height=1, width=1))


@pytest.mark.parametrize(
    ("arr", "encoding", "fragment"),
    [
        (np.zeros((H, W), np.float64), "32FC1", "32FC1 needs a float32 array, got float64"),
        (np.zeros((H, W), np.uint8), "16UC1", "16UC1 needs a uint16 array, got uint8"),
        (np.zeros((H, W), np.int16), "16UC1", "needs a uint16 array, got int16"),
        (np.zeros((H, W), np.uint8), "rgb8", "rgb8 needs an array of shape (H, W, 3), got (5, 7)"),
        (np.zeros((H, W, 4), np.uint8), "rgb8", "got (5, 7, 4)"),
        (np.zeros((H, W, 3), np.uint8), "mono8", "mono8 needs an array of shape (H, W), got (5, 7, 3)"),
        (np.zeros((0, W, 3), np.uint8), "rgb8", "zero size"),
        (np.zeros((H, W, 3), np.uint8), "yuv422", "unsupported image encoding 'yuv422'"),
    ],
)
def test_numpy_to_image_rejects(arr: np.ndarray, encoding: str, fragment: str) -> None:
    with pytest.raises(EncodingError) as info:
        numpy_to_image(arr, encoding)
    assert fragment in str(info.value)


# ------------------------------------------------------------------------------------------ to_rgb
EXPECTED_RGB = {
    "rgb8": lambda a: a,
    "bgr8": lambda a: a[:, :, ::-1],
    "rgba8": lambda a: a[:, :, :3],
    "bgra8": lambda a: a[:, :, [2, 1, 0]],
    "mono8": lambda a: np.repeat(a[:, :, None], 3, axis=2),
    "8UC1": lambda a: np.repeat(a[:, :, None], 3, axis=2),
}


@pytest.mark.parametrize("encoding", sorted(EXPECTED_RGB))
def test_to_rgb(encoding: str, monkeypatch: pytest.MonkeyPatch) -> None:
    arr = sample(encoding, seed=21)
    expected = np.ascontiguousarray(EXPECTED_RGB[encoding](arr))
    out = to_rgb(arr, encoding)
    assert out.dtype == np.uint8 and out.shape == (H, W, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)
    assert not np.shares_memory(out, arr)
    np.testing.assert_array_equal(image_to_rgb(numpy_to_image(arr, encoding)), expected)
    monkeypatch.setitem(sys.modules, "cv2", None)  # the numpy fallback gives the same pixels
    np.testing.assert_array_equal(to_rgb(arr, encoding), expected)


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1", "8UC3"])
def test_to_rgb_rejects_non_colour(encoding: str) -> None:
    with pytest.raises(EncodingError, match=f"cannot convert {encoding} to RGB"):
        to_rgb(sample(encoding), encoding)


def test_to_rgb_rejects_mismatch() -> None:
    with pytest.raises(EncodingError, match=r"bgr8 needs an array of shape \(H, W, 3\)"):
        to_rgb(np.zeros((H, W), np.uint8), "bgr8")
    with pytest.raises(EncodingError, match="unsupported image encoding 'yuv422'"):
        to_rgb(np.zeros((H, W, 3), np.uint8), "yuv422")


# ------------------------------------------------------------------------------------------ real messages
@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_real_sensor_msgs_image_round_trip(encoding: str) -> None:
    from sensor_msgs import msg as msgs
    from std_msgs import msg as std

    arr = sample(encoding, seed=31, h=48, w=64)
    header = std.Header(frame_id="camera_color_optical_frame")
    msg = numpy_to_image(arr, encoding, msg_factory=msgs.Image, header=header)
    assert isinstance(msg, msgs.Image)
    assert msg.header.frame_id == "camera_color_optical_frame"
    assert (msg.height, msg.width, msg.encoding) == (48, 64, encoding)
    assert_same(image_to_numpy(msg), arr)
    assert_same(image_to_numpy(msg), arr)


def test_real_sensor_msgs_padded_big_endian() -> None:
    from sensor_msgs import msg as msgs

    arr = sample("16UC1", seed=32, h=10, w=9)
    fake = make_msg(arr, "16UC1", pad=6, big_endian=True)
    msg = msgs.Image(
        height=fake.height,
        width=fake.width,
        encoding="16UC1",
        is_bigendian=1,
        step=fake.step,
        data=array.array("B", fake.data),
    )
    assert_same(image_to_numpy(msg), arr)
