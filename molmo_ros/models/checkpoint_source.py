"""Where a checkpoint comes from: a local directory checked before anything loads, or a hub id."""

from __future__ import annotations

import json
import re
from pathlib import Path

from molmo_ros.errors import ModelUnavailableError

__all__ = ["resolve_source"]

# Molmo v1 lives only as remote code on the hub; recognising the ids lets us refuse without any download.
_MOLMO_V1_HUB = re.compile(r"^allenai/(?:Molmo|MolmoE)-(?!2)", re.IGNORECASE)


def resolve_source(model: str, trust_remote_code: bool = False) -> str:
    """``model`` as transformers should load it: a local checkpoint directory (checked: it exists and holds a
    Molmo config) or a hub id (left to transformers).

    Raises:
        ModelUnavailableError: with the reason (missing, not a checkpoint, another model type, or remote code
            that ``trust_remote_code`` does not allow).
    """
    if not model.strip():
        raise ModelUnavailableError("no model given (empty name)")
    path = Path(model).expanduser()
    looks_like_path = model.startswith(("/", ".", "~")) or model.count("/") != 1 or path.exists()
    if not looks_like_path:
        if _MOLMO_V1_HUB.match(model) and not trust_remote_code:
            raise ModelUnavailableError(
                f"{model} is a Molmo v1 checkpoint, whose code ships with the checkpoint: it needs "
                "trust_remote_code=True (parameter trust_remote_code: true). Only enable it for "
                "checkpoints you trust; or use a native Molmo2 model such as allenai/Molmo2-4B."
            )
        return model  # hub id
    if not path.exists():
        raise ModelUnavailableError(
            f"model directory {str(path)!r} does not exist (and it is not a hub id of the form owner/name)"
        )
    if not path.is_dir():
        raise ModelUnavailableError(f"model path {str(path)!r} is not a directory")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelUnavailableError(
            f"{str(path)!r} is not a model directory: it has no config.json (expected a checkpoint "
            "written by save_pretrained: config.json, model weights, processor and tokenizer files)"
        )
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"cannot read {config_file}: {exc}") from exc
    if not isinstance(config, dict):
        raise ModelUnavailableError(f"{config_file} does not hold a JSON object")
    model_type = config.get("model_type")
    if model_type == "molmo2":
        return str(path)
    if "auto_map" in config:
        if not trust_remote_code:
            raise ModelUnavailableError(
                f"{str(path)!r} (model_type {model_type!r}) runs code shipped with the checkpoint "
                f"(auto_map: {sorted(config['auto_map'])}); it needs trust_remote_code=True. Only enable "
                "it for checkpoints you trust."
            )
        return str(path)
    raise ModelUnavailableError(
        f"{str(path)!r} holds a model of type {model_type!r}, not a Molmo image-text model: expected "
        "model_type 'molmo2' (or a Molmo v1 checkpoint with trust_remote_code)"
    )
