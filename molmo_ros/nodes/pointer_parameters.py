"""The pointer node's parameters (plain Python): their descriptions, which apply at once, their validation, and
the model they load (:func:`molmo_ros.models.load_from_parameters`). Defaults: config/point.yaml
(section ``molmo_pointer``)."""

from __future__ import annotations

from typing import Any

from molmo_ros.geometry import RigidTransform
from molmo_ros.models import BACKENDS
from molmo_ros.nodes.transforms import validate_transform_source

DESCRIPTIONS = {
    "backend": "model backend: transformers (in-process) or openai (OpenAI-compatible server, e.g. vLLM)",
    "model": "transformers: checkpoint directory or hub id, empty = bundled; openai: served model name",
    "device": "transformers device: auto, cpu, cuda or cuda:N",
    "dtype": "transformers dtype: auto (bfloat16 on CUDA, float32 on CPU), float32, bfloat16, float16",
    "trust_remote_code": "allow the checkpoint's own Python code (Molmo v1); off unless you trust it",
    "max_new_tokens": "upper bound on generated tokens per answer",
    "cpu_threads": "transformers: torch CPU threads of the process; 0 = all cores but one (at least 1)",
    "server_url": "openai backend: base URL of the server, e.g. http://127.0.0.1:8000/v1",
    "api_key_env": "openai backend: name of the environment variable holding the API key",
    "request_timeout_s": "openai backend: timeout of one HTTP request, seconds",
    "max_retries": "openai backend: retries on connection errors, 5xx and 429",
    "rgb_topic": "colour image topic (sensor_msgs/Image: rgb8, bgr8, rgba8, bgra8, mono8)",
    "depth_topic": "depth image topic (sensor_msgs/Image: 16UC1 millimetres or 32FC1 metres)",
    "camera_info_topic": "sensor_msgs/CameraInfo of the colour camera (depth registered to it)",
    "sync_slop_s": "largest stamp difference between a paired colour and depth image, seconds",
    "sync_history": "messages of each camera stream searched for a colour/depth pair",
    "image_reliability": "QoS reliability of the camera subscriptions: best_effort or reliable",
    "stale_frame_s": "refuse frames older than this, seconds; 0 disables the check",
    "first_frame_wait_s": "a query that finds no frame or CameraInfo yet waits this long for them, seconds",
    "target_frame": "frame of the returned 3D points",
    "transform_source": "camera pose in target_frame from tf (tf2), static (static_transform) or auto",
    "static_transform": "without tf2: camera optical frame in target_frame as [x, y, z, qx, qy, qz, qw]",
    "depth_window": "side of the square window for the median depth at a point, pixels (odd)",
    "min_depth_m": "smallest valid depth, metres",
    "max_depth_m": "largest valid depth, metres",
    "max_query_chars": "longest query accepted, characters",
    "deserialize_on_query": "keep camera images serialized and decode only the pair a query uses",
    "take_on_query": "leave camera messages in the DDS history and take the newest when a query comes (a "
    "helper node <name>_camera holds the subscriptions; command-line remaps do not reach it: set the *_topic "
    "parameters)",
    "max_points": "most points an answer may hold; more is a PARSE_ERROR",
    "stop_after_points": "transformers: end a point answer where its coordinates end (its point tag's "
    "opening); the answer text then ends with an unclosed tag",
    "queue_size": "requests that may wait while one runs; beyond that BUSY",
    "annotate": "publish ~/annotated_image and ~/markers after each query",
    "autostart": "configure and activate on start (off when a lifecycle manager drives the node)",
}

RELIABILITIES = ("best_effort", "reliable")
# Applied to the next request as soon as they are set; every other parameter shapes subscriptions, the model
# or the queue and is read at configure (changing it while configured is refused with that reason).
LIVE = frozenset(
    {"stale_frame_s", "first_frame_wait_s", "target_frame", "static_transform", "depth_window", "min_depth_m",
     "max_depth_m", "max_query_chars", "max_points", "stop_after_points", "annotate", "autostart"}
)  # fmt: skip
DEVICES_PREFIXES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")


def validate_parameters(values: dict[str, Any]) -> None:
    """Raise ValueError naming the first parameter value that cannot work."""
    if values["backend"] not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {values['backend']!r}")
    if not str(values["device"]).startswith(DEVICES_PREFIXES):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {values['device']!r}")
    if values["dtype"] not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {values['dtype']!r}")
    if values["image_reliability"] not in RELIABILITIES:
        raise ValueError(f"image_reliability must be one of {RELIABILITIES}")
    window = values["depth_window"]
    if window < 1 or window % 2 == 0:
        raise ValueError(f"depth_window must be a positive odd number of pixels, got {window}")
    if not 0 <= values["min_depth_m"] < values["max_depth_m"]:
        raise ValueError("need 0 <= min_depth_m < max_depth_m")
    for name in ("max_new_tokens", "max_query_chars", "max_points", "sync_history"):
        if values[name] < 1:
            raise ValueError(f"{name} must be >= 1, got {values[name]}")
    for name in (
        "queue_size",
        "max_retries",
        "cpu_threads",
        "stale_frame_s",
        "first_frame_wait_s",
        "sync_slop_s",
    ):
        if values[name] < 0:
            raise ValueError(f"{name} must be >= 0, got {values[name]}")
    if values["request_timeout_s"] <= 0:
        raise ValueError("request_timeout_s must be > 0")
    validate_transform_source(values["transform_source"])
    if len(values["static_transform"]) != 7:
        raise ValueError("static_transform must be [x, y, z, qx, qy, qz, qw]")
    RigidTransform.from_xyz_quat(values["static_transform"][:3], values["static_transform"][3:], "a", "b")
