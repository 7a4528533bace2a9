"""Where and in which precision the transformers backend runs: device and dtype resolution, attention
implementations to try, out-of-memory recognition."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass

from molmo_ros.errors import ModelUnavailableError

_DEVICE_RE = re.compile(r"^(?:auto|cpu|cuda(?::(?P<index>\d+))?)$")
_DTYPES = ("auto", "float32", "bfloat16", "float16")
# Messages of allocation failures that torch raises as plain RuntimeError (CPU allocator, CUDA caching
# allocator behind other wrappers).
_OOM_TEXT = re.compile(r"out of memory|can't allocate memory|cannot allocate memory|not enough memory", re.I)


@dataclass(frozen=True)
class DeviceChoice:
    """Where and how a model runs: ``device`` (``"cpu"``, ``"cuda:0"`` ...) and a torch dtype name."""

    device: str
    dtype: str


def resolve_device(device: str = "auto", dtype: str = "auto") -> DeviceChoice:
    """Turn the user's ``device`` and ``dtype`` settings into a concrete choice.

    Args:
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        dtype: ``"auto"`` (bfloat16 on CUDA, float16 on a GPU without bf16, float32 on CPU), ``"float32"``,
            ``"bfloat16"`` or ``"float16"``.

    Raises:
        ModelUnavailableError: an unknown setting, or CUDA asked for where there is none (or not that index).
    """
    import torch

    m = _DEVICE_RE.match(device.strip().lower()) if isinstance(device, str) else None
    if m is None:
        raise ModelUnavailableError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if dtype not in _DTYPES:
        raise ModelUnavailableError(f"unknown dtype {dtype!r}: use one of {', '.join(_DTYPES)}")
    name = device.strip().lower()
    if name == "auto":
        name = "cuda:0" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelUnavailableError(
                f"device {device!r} asked for, but CUDA is not available here (torch {torch.__version__}, "
                f"CUDA build {torch.version.cuda}); use device 'cpu' or 'auto'"
            )
        index = int(m["index"]) if m["index"] else 0
        if index >= torch.cuda.device_count():
            raise ModelUnavailableError(
                f"device {device!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
        name = f"cuda:{index}"
    if dtype == "auto":
        # CPU kernels for half precision are slow or missing; GPUs before Ampere lack bf16.
        if name == "cpu":
            dtype = "float32"
        elif torch.cuda.is_bf16_supported():
            dtype = "bfloat16"
        else:
            dtype = "float16"
    return DeviceChoice(device=name, dtype=dtype)


def attn_candidates(choice: DeviceChoice, requested: str) -> list[str]:
    """Attention implementations to try, fastest first."""
    if requested != "auto":
        return [requested]
    names = []
    if (
        choice.device.startswith("cuda")
        and choice.dtype in ("bfloat16", "float16")
        and importlib.util.find_spec("flash_attn") is not None
    ):
        names.append("flash_attention_2")
    return [*names, "sdpa", "eager"]


def is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)) or (
        isinstance(exc, RuntimeError) and bool(_OOM_TEXT.search(str(exc)))
    )


def oom_error(model: str, choice: DeviceChoice, exc: BaseException) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"out of memory loading {model!r} on {choice.device} in {choice.dtype} "
        f"({type(exc).__name__}: {str(exc)[:300]}). Free memory, use a smaller model or dtype bfloat16, "
        "or another device."
    )
