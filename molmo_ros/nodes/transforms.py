"""Where the nodes get the camera's pose from: tf2 or the ``static_transform`` parameter, chosen by the
``transform_source`` parameter (``auto``: tf2 when ``tf2_ros`` is importable, else static)."""

from __future__ import annotations

from typing import Any

from molmo_ros.capabilities import has_module
from molmo_ros.errors import TransformError
from molmo_ros.geometry import RigidTransform

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


def lookup(buffer: Any, target: str, source: str, stamp_ns: int, timeout_s: float) -> RigidTransform:
    """`source` in `target` from a tf2 buffer at `stamp_ns` (0: the latest); TransformError with tf2's reason."""
    from rclpy.duration import Duration
    from rclpy.time import Time

    try:
        msg = buffer.lookup_transform(
            target, source, Time(nanoseconds=stamp_ns), timeout=Duration(seconds=timeout_s)
        )
    except Exception as err:  # tf2 raises several unrelated exception types
        raise TransformError(f"no transform {source!r} -> {target!r}: {err}") from err
    return RigidTransform.from_transform_stamped(msg)


def camera_to_target(buffer: Any, frame: Any, target: str, p: dict[str, Any]) -> RigidTransform:
    """The camera frame of `frame` (an RgbdFrame) in `target`: identity, tf2 (`buffer` not None), or the
    `static_transform` parameter, which goes into `p["target_frame"]` only (TransformError elsewhere)."""
    if target == frame.frame_id:
        return RigidTransform.identity(target)
    if buffer is not None:
        return lookup(buffer, target, frame.frame_id, frame.stamp_ns, 0.2)
    if target != p["target_frame"]:
        raise TransformError(
            f"cannot transform into {target!r}: the camera pose comes from static_transform, which goes "
            f"from {frame.frame_id!r} to {p['target_frame']!r} only (transform_source {p['transform_source']!r})"
        )
    xyzq = p["static_transform"]
    return RigidTransform.from_xyz_quat(xyzq[:3], xyzq[3:], target, frame.frame_id)
