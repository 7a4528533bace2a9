"""Molmo model backends behind one interface, :class:`PointModel` (plain Python, no rclpy).

* ``transformers``: the model runs in this process (Molmo2 native; Molmo v1 with ``trust_remote_code``);
* ``openai``: the model runs behind an OpenAI-compatible server such as ``vllm serve allenai/Molmo2-8B``.

Use :func:`load_point_model`; tests and benchmarks get a tiny random Molmo2 from
:func:`training.molmo2.tiny_checkpoint`. Heavy imports (torch, transformers) happen only when a
transformers model is loaded.
"""

from __future__ import annotations

import os
from typing import Any

from molmo_ros.errors import ModelUnavailableError
from molmo_ros.models.base import ModelAnswer, PointModel, RawAnswer

__all__ = [
    "BACKENDS",
    "ModelAnswer",
    "PointModel",
    "RawAnswer",
    "auto_cpu_threads",
    "default_model_path",
    "load_from_parameters",
    "load_point_model",
]

#: Accepted backend names (``vllm`` is an alias of ``openai``, ``hf`` of ``transformers``).
BACKENDS = ("transformers", "openai")
_ALIASES = {"hf": "transformers", "huggingface": "transformers", "vllm": "openai"}
_DEFAULT_MODEL_NAMES = ("", "default", "bundled")


def default_model_path() -> Any:
    """The bundled checkpoint's directory (see :func:`molmo_ros.models.transformers_backend.default_model_path`).

    Raises:
        ModelUnavailableError: the package has no bundled checkpoint; the message says how to get one.
    """
    from molmo_ros.models.transformers_backend import default_model_path as resolve

    return resolve()


def load_point_model(
    backend: str = "transformers",
    model: str = "default",
    device: str = "auto",
    dtype: str = "auto",
    trust_remote_code: bool = False,
    max_new_tokens: int = 64,
    **opts: Any,
) -> PointModel:
    """Load a model behind the :class:`PointModel` interface.

    Args:
        backend: ``"transformers"`` (in process) or ``"openai"`` (HTTP server; alias ``"vllm"``).
        model: transformers: a checkpoint directory, a hub id, or ``"default"`` / ``""`` for the package's
            bundled checkpoint; openai: the served model name (``allenai/Molmo2-8B``).
        device: transformers only: ``"auto"`` | ``"cpu"`` | ``"cuda"`` | ``"cuda:N"``.
        dtype: transformers only: ``"auto"`` | ``"float32"`` | ``"bfloat16"`` | ``"float16"``.
        trust_remote_code: transformers only: allow checkpoint code (Molmo v1). Off unless asked for.
        max_new_tokens: the longest answer, tokens.
        **opts: backend-specific options: transformers: ``attn_implementation``, ``local_files_only``,
            ``cpu_threads``;
            openai: ``base_url``, ``api_key_env``, ``timeout_s``, ``max_retries``, ``backoff_s``,
            ``max_backoff_s``, ``image_format``.

    Raises:
        ModelUnavailableError: unknown backend or option, or the backend could not load (reason in the message).
    """
    name = _ALIASES.get(backend.strip().lower(), backend.strip().lower()) if isinstance(backend, str) else ""
    if name == "transformers":
        from molmo_ros.models.transformers_backend import TransformersPointModel

        _check_opts(name, opts, {"attn_implementation", "local_files_only", "cpu_threads"})
        target = (
            str(default_model_path()) if str(model).strip().lower() in _DEFAULT_MODEL_NAMES else str(model)
        )
        return TransformersPointModel(
            target,
            device=device,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            max_new_tokens=max_new_tokens,
            **opts,
        )
    if name == "openai":
        from molmo_ros.models.openai_backend import OpenAIPointModel

        _check_opts(
            name,
            opts,
            {
                "base_url",
                "api_key_env",
                "timeout_s",
                "max_retries",
                "backoff_s",
                "max_backoff_s",
                "image_format",
            },
        )
        if str(model).strip().lower() in _DEFAULT_MODEL_NAMES:
            raise ModelUnavailableError(
                "the openai backend needs the served model's name, e.g. allenai/Molmo2-8B"
            )
        # device, dtype and trust_remote_code are the server's business (vllm serve ... --dtype ...).
        return OpenAIPointModel(str(model), max_new_tokens=max_new_tokens, **opts)
    raise ModelUnavailableError(f"unknown model backend {backend!r}: use one of {', '.join(BACKENDS)}")


def load_from_parameters(p: dict[str, Any]) -> PointModel:
    """Load the model the pointer node's parameters name (config/point.yaml, section ``molmo_pointer``: backend,
    model, device, dtype, server_url ...); ModelUnavailableError with the reason when it cannot be loaded."""
    common = {"max_new_tokens": p["max_new_tokens"]}
    if p["backend"] == "openai":
        return load_point_model(
            "openai",
            p["model"],
            base_url=p["server_url"],
            api_key_env=p["api_key_env"],
            timeout_s=p["request_timeout_s"],
            max_retries=p["max_retries"],
            **common,
        )
    return load_point_model(
        "transformers",
        p["model"] or "default",
        device=p["device"],
        dtype=p["dtype"],
        trust_remote_code=p["trust_remote_code"],
        cpu_threads=p["cpu_threads"] or auto_cpu_threads(),
        **common,
    )


def auto_cpu_threads() -> int:
    """All cores but one, at least 1: the node's other core reads the camera and runs the executor."""
    return max(1, (os.cpu_count() or 1) - 1)


def _check_opts(backend: str, opts: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(opts) - allowed)
    if unknown:
        raise ModelUnavailableError(
            f"unknown option(s) {unknown} for the {backend} backend; allowed: {sorted(allowed)}"
        )
