"""Conversions between ROS message layouts and numpy (duck-typed: no ROS imports needed)."""

from molmo_ros.conversions.images import (
    ENCODINGS,
    SUPPORTED_ENCODINGS,
    ImageData,
    image_to_numpy,
    image_to_rgb,
    numpy_to_image,
    to_rgb,
)

__all__ = [
    "ENCODINGS",
    "SUPPORTED_ENCODINGS",
    "ImageData",
    "image_to_numpy",
    "image_to_rgb",
    "numpy_to_image",
    "to_rgb",
]
