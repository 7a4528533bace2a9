"""``sensor_msgs/Image`` <-> numpy, without needing ``sensor_msgs`` (duck-typed on the message fields).

Supported encodings (name: dtype, channels -> array shape):

- ``rgb8``, ``bgr8``, ``8UC3``: uint8, 3 -> (H, W, 3) (``8UC3`` has no channel order, so :func:`to_rgb`
  refuses it)
- ``rgba8``, ``bgra8``: uint8, 4 -> (H, W, 4)
- ``mono8``, ``8UC1``: uint8, 1 -> (H, W)
- ``16UC1``: uint16, 1 -> (H, W) (depth in millimeters, REP 118)
- ``32FC1``: float32, 1 -> (H, W) (depth in meters)

Decoded arrays are C-contiguous, in native byte order, and copies that do not alias the message. Headers are
validated (encoding, sizes, step, data length) first, so a bad message fails with :class:`EncodingError` and a
reason.

Why not a library: cv_bridge ships with ROS distributions, not with the pip wheels (PyPI's ``cv-bridge`` is
ROS 1's), its Python code handles byte order differently between releases (older ones call
``ndarray.newbyteorder``, gone in NumPy 2) and assumes whole-pixel row padding; ``rosbags-image`` ignores
``step``. What remains is a validated ``np.frombuffer`` and a reshape.
"""

from __future__ import annotations

import array as pyarray
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from molmo_ros.errors import EncodingError

#: encoding -> (dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "8UC3": (np.dtype(np.uint8), 3),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(ENCODINGS)
_MACHINE_BIG_ENDIAN = sys.byteorder == "big"


@dataclass
class ImageData:
    """The fields of a ``sensor_msgs/Image``, for code that has no ROS messages (tests, the simulator)."""

    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: bytes
    header: Any = None


# ------------------------------------------------------------------------------------------- validation
def _encoding_info(encoding: str) -> tuple[np.dtype, int]:
    info = ENCODINGS.get(encoding)
    if info is None:
        raise EncodingError(
            f"unsupported image encoding {encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})"
        )
    return info


@dataclass(frozen=True)
class _Header:
    height: int
    width: int
    encoding: str
    step: int
    big_endian: bool
    dtype: np.dtype
    channels: int
    data: Any

    @property
    def row_bytes(self) -> int:
        return self.width * self.channels * self.dtype.itemsize


def _read_header(msg: Any) -> _Header:
    try:
        height, width, step = int(msg.height), int(msg.width), int(msg.step)
        encoding, big_endian, data = str(msg.encoding), bool(msg.is_bigendian), msg.data
    except AttributeError as exc:
        raise EncodingError(f"not an image message: missing field ({exc})") from exc
    except (TypeError, ValueError) as exc:
        raise EncodingError(f"image header fields are not numbers: {exc}") from exc
    dtype, channels = _encoding_info(encoding)
    if height <= 0 or width <= 0:
        raise EncodingError(f"image has zero size ({width}x{height})")
    hdr = _Header(height, width, encoding, step, big_endian, dtype, channels, data)
    if step < hdr.row_bytes:
        raise EncodingError(
            f"image step {step} is smaller than width*channels*bytes = {width}*{channels}*{dtype.itemsize} "
            f"= {hdr.row_bytes} for {encoding}"
        )
    size = memoryview(data).nbytes if _is_buffer(data) else len(data)
    if size != height * step:
        raise EncodingError(
            f"image data has {size} bytes but height*step = {height}*{step} = {height * step} ({encoding})"
        )
    return hdr


def _is_buffer(obj: Any) -> bool:
    try:
        memoryview(obj)
    except TypeError:
        return False
    return True


def _check_array(arr: np.ndarray, encoding: str) -> np.ndarray:
    """The array as C-contiguous native-endian (H, W) or (H, W, C) for ``encoding``; EncodingError if it does
    not fit."""
    dtype, channels = _encoding_info(encoding)
    arr = np.asarray(arr)
    if arr.dtype.kind != dtype.kind or arr.dtype.itemsize != dtype.itemsize:
        raise EncodingError(f"{encoding} needs a {dtype} array, got {arr.dtype}")
    if channels == 1 and arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    expected = "(H, W)" if channels == 1 else f"(H, W, {channels})"
    if (channels == 1 and arr.ndim != 2) or (channels > 1 and (arr.ndim != 3 or arr.shape[2] != channels)):
        raise EncodingError(f"{encoding} needs an array of shape {expected}, got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise EncodingError(f"image has zero size ({arr.shape[1]}x{arr.shape[0]})")
    return np.ascontiguousarray(arr, dtype=dtype)


# ------------------------------------------------------------------------------------------- decoding
def _decode_numpy(hdr: _Header) -> np.ndarray:
    data = hdr.data
    buf = np.frombuffer(data, dtype=np.uint8) if _is_buffer(data) else np.asarray(data, dtype=np.uint8)
    # Drop the row padding at byte level, so any step works, then reinterpret with the message's byte order.
    rows = np.array(buf.reshape(hdr.height, hdr.step)[:, : hdr.row_bytes], order="C", copy=True)
    wire = hdr.dtype.newbyteorder(">" if hdr.big_endian else "<") if hdr.dtype.itemsize > 1 else hdr.dtype
    arr = rows.view(wire).reshape(hdr.height, hdr.width, hdr.channels)
    # Native byte order, spelled "=" as cv_bridge's arrays are (a "<" dtype on a little-endian machine is
    # equal but reports a different byteorder); a view when no swap is needed, a swapped copy otherwise.
    arr = arr.view(hdr.dtype) if wire.isnative else arr.astype(hdr.dtype)
    return arr[:, :, 0] if hdr.channels == 1 else arr


def image_to_numpy(msg: Any) -> np.ndarray:
    """Decode an image message (``sensor_msgs/Image``, :class:`ImageData`, or any object with their fields).

    Args:
        msg: the image.

    Returns:
        A new C-contiguous native-endian array: (H, W) for one channel, (H, W, C) otherwise; dtype per the
        module docstring.

    Raises:
        EncodingError: unsupported encoding, zero size, ``step`` smaller than a row, or ``len(data)`` not
            ``height * step``.
    """
    return _decode_numpy(_read_header(msg))


# ------------------------------------------------------------------------------------------- encoding
def numpy_to_image(
    array: np.ndarray,
    encoding: str,
    msg_factory: Callable[[], Any] | None = None,
    header: Any = None,
) -> Any:
    """Encode an array as an image message.

    Args:
        array: (H, W) or (H, W, C) array whose dtype and channel count match ``encoding`` ((H, W, 1) is
            accepted for one channel; a non-native byte order is converted).
        encoding: one of :data:`SUPPORTED_ENCODINGS`.
        msg_factory: a message class such as ``sensor_msgs.msg.Image``; None gives an :class:`ImageData`.
        header: set as the message's ``header`` when given (e.g. the stamp and frame of the source image).

    Returns:
        The message: native byte order, unpadded rows (``step = width * channels * bytes``). ``data`` is
        ``bytes``, or an ``array.array('B')`` when the message class stores it so (rclpy messages: assigning
        bytes there would check every byte in Python).

    Raises:
        EncodingError: unsupported encoding, or an array whose dtype / shape does not fit it.
    """
    arr = _check_array(array, encoding)
    height, width = arr.shape[:2]
    step, big_endian, data = arr.strides[0], _MACHINE_BIG_ENDIAN, arr.tobytes()
    if msg_factory is None:
        out: Any = ImageData(height, width, encoding, int(big_endian), step, data)
    else:
        out = msg_factory()
        out.height, out.width, out.encoding = height, width, encoding
        out.is_bigendian, out.step = int(big_endian), step
        out.data = pyarray.array("B", data) if isinstance(getattr(out, "data", None), pyarray.array) else data
    if header is not None:
        out.header = header
    return out


# ------------------------------------------------------------------------------------------------ RGB
_TO_RGB_CODES = {"bgr8": "COLOR_BGR2RGB", "rgba8": "COLOR_RGBA2RGB", "bgra8": "COLOR_BGRA2RGB"}


def to_rgb(array: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a colour or grey image to (H, W, 3) uint8 RGB (what the models take).

    Args:
        array: an array as returned by :func:`image_to_numpy` for ``encoding``.
        encoding: ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``, ``mono8`` or ``8UC1``.

    Returns:
        A new (H, W, 3) uint8 C-contiguous array (alpha dropped, grey replicated).

    Raises:
        EncodingError: depth encodings, ``8UC3`` (no defined channel order), or a mismatching array.
    """
    _encoding_info(encoding)
    if encoding in ("16UC1", "32FC1", "8UC3"):
        raise EncodingError(
            f"cannot convert {encoding} to RGB (colour encodings: rgb8, bgr8, rgba8, bgra8, mono8, 8UC1)"
        )
    arr = _check_array(array, encoding)
    if encoding == "rgb8":
        return arr.copy()
    try:
        import cv2
    except ImportError:  # same result with numpy, just slower
        if encoding in ("mono8", "8UC1"):
            return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
        return np.ascontiguousarray(arr[:, :, 2::-1] if encoding.startswith("bgr") else arr[:, :, :3])
    if encoding in ("mono8", "8UC1"):
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(arr, getattr(cv2, _TO_RGB_CODES[encoding]))


def image_to_rgb(msg: Any) -> np.ndarray:
    """Decode a colour / grey image message straight to (H, W, 3) uint8 RGB."""
    return to_rgb(image_to_numpy(msg), str(msg.encoding))
