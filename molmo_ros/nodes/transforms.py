"""Where the nodes get the camera's pose from: tf2 or the ``static_transform`` parameter, chosen by the
``transform_source`` parameter (``auto``: tf2 when ``tf2_ros`` is importable, else static)."""

from __future__ import annotations

from typing import Any

from molmo_ros.capabilities import has_module

TRANSFORM_SOURCES = ("auto", "tf", "static")


def validate_transform_source(source: str) -> None:
    """ValueError with the reason for an unknown source, or "tf" where tf2_ros cannot be imported."""
    if source not in TRANSFORM_SOURCES:
        raise ValueError(f"transform_source must be one of {TRANSFORM_SOURCES}, got {source!r}")
    if source == "tf" and not has_module("tf2_ros"):
        raise ValueError(
            "transform_source 'tf' needs tf2_ros (a ROS 2 distribution); use 'static' with static_transform, "
            "or 'auto'"
        )


def uses_tf(source: str) -> bool:
    """True when `source` means tf2 here."""
    return source == "tf" or (source == "auto" and has_module("tf2_ros"))


def tf_listener(node: Any, source: str) -> tuple[Any, Any]:
    """A tf2 buffer and the listener filling it for `node`, or (None, None) when `source` is static here."""
    if not uses_tf(source):
        return None, None
    import tf2_ros

    buffer = tf2_ros.Buffer()
    return buffer, tf2_ros.TransformListener(buffer, node)
