"""The model being trained: a transformers ``Molmo2ForConditionalGeneration`` built new, or loaded.

A new model comes from :func:`training.molmo2.build_molmo2_checkpoint` (tokenizer trained on the training
text, digits split one per token, the Molmo2 special tokens) and then gets two initialisation changes that make a
from-scratch model look at the picture (see ``training/README.md``, "Why a from-scratch Molmo2 ignores the
picture"):

* the ViT's learned position embeddings start as a 2-D sine-cosine table instead of N(0, 0.02), so every patch
  feature carries where it is, and the language model can read positions off the image tokens;
* the connector's output projection is rescaled so the image features added to the ``<im_patch>`` embeddings have
  an RMS of ``image_feature_rms`` at initialisation. As built, the SwiGLU projector with 0.02-std weights outputs
  ~1e-4, which the language model cannot tell from the constant ``<im_patch>`` embedding (a different picture moved
  the logits by ~1e-5), so almost no gradient reached the vision side.

For real-scale runs the ViT and the language model can instead start from pretrained SigLIP and Qwen3 weights
(:func:`load_pretrained_backbones`), as Molmo does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.config import ModelConfig
from training.molmo2 import build_molmo2_checkpoint

__all__ = [
    "build_new_checkpoint",
    "load_pretrained_backbones",
    "parameter_groups",
    "sincos_2d",
]


def sincos_2d(grid: int, dim: int) -> torch.Tensor:
    """A 2-D sine-cosine position table, shape ``(grid * grid, dim)``, rows in raster order (row-major).

    The first half of the channels encodes the row, the second half the column, each with ``dim // 4``
    frequencies (sine and cosine); ``dim`` must be a multiple of 4.
    """
    if dim % 4:
        raise ValueError(f"sine-cosine positions need a width divisible by 4, got {dim}")
    quarter = dim // 4
    freqs = 1.0 / (100.0 ** (torch.arange(quarter, dtype=torch.float64) / max(1, quarter)))
    coords = torch.arange(grid, dtype=torch.float64)
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")

    def encode(pos: torch.Tensor) -> torch.Tensor:
        angles = pos.reshape(-1, 1) * freqs.reshape(1, -1) * (math.pi / 2)
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    return torch.cat([encode(rows), encode(cols)], dim=1).float()


@torch.no_grad()
def apply_init(model: Any, processor: Any, config: ModelConfig) -> dict[str, float]:
    """Apply the initialisation changes of :class:`ModelConfig` to a new model, in place.

    Returns:
        What changed: ``image_feature_rms_before`` / ``_after`` (measured on random pictures).
    """
    vision = model.model.vision_tower
    report: dict[str, float] = {}
    if config.vit_pos_init == "sincos":
        table = vision.positional_embedding
        grid = math.isqrt(table.shape[0])
        if grid * grid != table.shape[0]:
            raise ValueError(f"ViT position table of {table.shape[0]} rows is not a square grid")
        table.copy_(sincos_2d(grid, table.shape[1]) * config.vit_pos_scale)
    elif config.vit_pos_init != "normal":
        raise ValueError(f"vit_pos_init must be 'sincos' or 'normal', got {config.vit_pos_init!r}")
    if config.connector_init == "fan_in":
        _fan_in_init(model.model.multi_modal_projector, seed=config.init_seed)
    elif config.connector_init != "as_built":
        raise ValueError(f"connector_init must be 'fan_in' or 'as_built', got {config.connector_init!r}")
    report.update(_coordinate_code_init(model, processor, config))
    if config.qk_norm_gain <= 0:
        raise ValueError(f"qk_norm_gain must be > 0, got {config.qk_norm_gain}")
    for layer in model.model.language_model.layers:
        layer.self_attn.q_norm.weight.fill_(config.qk_norm_gain)
        layer.self_attn.k_norm.weight.fill_(config.qk_norm_gain)
    if config.image_feature_rms > 0:
        before = _image_feature_rms(model, processor)
        model.model.multi_modal_projector.image_projector.down_proj.weight.mul_(
            config.image_feature_rms / before
        )
        report["image_feature_rms_before"] = before
        report["image_feature_rms_after"] = _image_feature_rms(model, processor)
    return report


def _coordinate_code_init(model: Any, processor: Any, config: ModelConfig) -> dict[str, float]:
    """Coordinate tokens start from a smooth code of their value (:func:`training.coords.position_code`) in the
    first channels of their LM-head rows (and, a tenth as large, of their embeddings): nearby values score alike
    from the first step, so the soft targets' gradient reaches the neighbours of the value being taught."""
    from training.coords import coordinate_token_ids, position_code

    ids = coordinate_token_ids(processor.tokenizer)
    if not ids or config.coordinate_code_frequencies <= 0:
        return {}
    code = position_code(torch.linspace(0.0, 1.0, len(ids)), config.coordinate_code_frequencies)
    width = code.shape[1]
    index = torch.tensor(ids)
    head = model.lm_head.weight
    if width > head.shape[1]:
        raise ValueError(
            f"a coordinate code of {width} channels does not fit a hidden size of {head.shape[1]}"
        )
    head[index, :width] = code * config.coordinate_code_scale
    embed = model.model.language_model.embed_tokens.weight
    embed[index, :width] = code * (0.1 * config.coordinate_code_scale)
    return {"coordinate_tokens": len(ids), "coordinate_code_channels": width}


def _fan_in_init(module: torch.nn.Module, seed: int) -> None:
    """Every linear layer of ``module`` to std ``1 / sqrt(fan_in)``, biases to 0.

    Why: with the library's std 0.02 the pooled ViT features are ~1e-2 and the SwiGLU projector, quadratic for
    small inputs, returns ~5e-6. Scaling only its last matrix up by ~1e5 to compensate leaves an image path in
    which every optimizer step on the earlier matrices is amplified 1e5-fold: the picture turns into noise the
    language model learns to ignore. At fan-in scale each layer keeps its input's magnitude.
    """
    generator = torch.Generator().manual_seed(seed + 1)
    for layer in module.modules():
        if isinstance(layer, torch.nn.Linear):
            std = 1.0 / math.sqrt(layer.in_features)
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
            if layer.bias is not None:
                layer.bias.zero_()


def _image_feature_rms(model: Any, processor: Any) -> float:
    """RMS of the connector output on 4 random 320x240 pictures through the real processor (deterministic)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)) for _ in range(4)]
    inputs = processor.image_processor(images, return_tensors="pt")
    was_training = model.training
    model.eval()
    features = model.model.get_image_features(
        inputs["pixel_values"], inputs["image_token_pooling"], inputs["image_grids"]
    )
    model.train(was_training)
    flat = torch.cat(list(features.pooler_output), dim=0)
    return float(flat.pow(2).mean().sqrt())


def build_new_checkpoint(out_dir: str | Path, config: ModelConfig, corpus: Iterable[str]) -> dict[str, Any]:
    """Build a new Molmo2 checkpoint in ``out_dir`` with the configured sizes, a tokenizer trained on ``corpus``
    and the initialisation of :func:`apply_init` (or pretrained backbones); returns a report."""
    from transformers import AutoProcessor, Molmo2ForConditionalGeneration

    from training.molmo2 import fix_embedding_split

    if config.pretrained_text:
        # A new model's tokenizer is trained here on the training text, so its token ids are not the pretrained
        # LM's: copying embedding and LM-head rows by index would give every token another word's vector.
        raise ValueError(
            f"model.pretrained_text={config.pretrained_text!r} is refused: a new model trains its own tokenizer, "
            "whose ids do not line up with that LM's vocabulary; start from a Molmo2 checkpoint built with the "
            "LM's tokenizer (model.init_from) instead"
        )
    info = build_molmo2_checkpoint(out_dir, sizes=config.sizes, corpus=list(corpus), seed=config.init_seed)
    model = Molmo2ForConditionalGeneration.from_pretrained(out_dir, dtype=torch.float32)
    report: dict[str, Any] = {"num_parameters": info.num_parameters, "text_vocab_size": info.text_vocab_size}
    report.update(apply_init(model, AutoProcessor.from_pretrained(out_dir), config))
    if config.pretrained_vision:
        report.update(load_pretrained_backbones(model, config.pretrained_vision))
    model.save_pretrained(out_dir)
    fix_embedding_split(out_dir)
    return report


# ------------------------------------------------------------------------------------------ backbones


def _copy(target: torch.nn.Parameter | torch.Tensor, source: torch.Tensor, name: str) -> None:
    if tuple(target.shape) != tuple(source.shape):
        raise ValueError(
            f"{name}: pretrained shape {tuple(source.shape)} != model shape {tuple(target.shape)}"
        )
    target.data.copy_(source.to(target.dtype))


@torch.no_grad()
def load_pretrained_backbones(model: Any, vision: str = "", text: str = "") -> dict[str, int]:
    """Copy pretrained weights into a Molmo2 model, as Molmo starts from a pretrained ViT and LLM.

    Args:
        model: a ``Molmo2ForConditionalGeneration`` whose sizes match the backbones.
        vision: a SigLIP checkpoint (``SiglipVisionModel`` or a full ``SiglipModel``; directory or hub id). Its
            patch convolution becomes the ViT's linear patch embedding (Molmo2 flattens patches row, column,
            channel), its position embedding the ViT's table, and its encoder layers the ViT layers.
        text: a Qwen3 causal LM (directory or hub id): embeddings (first rows), decoder layers, final norm and
            LM head. The model's tokenizer must then be that LM's tokenizer plus the Molmo2 image tokens.

    Returns:
        Tensors copied per backbone (``vision_tensors``, ``text_tensors``).

    Raises:
        ValueError: a shape that does not match (choose ``Molmo2Sizes`` from the backbones' configs).
    """
    copied = {"vision_tensors": 0, "text_tensors": 0}
    if vision:
        from transformers import AutoModel

        source = AutoModel.from_pretrained(vision, dtype=torch.float32)
        source = getattr(source, "vision_model", source)
        state = {k.removeprefix("vision_model."): v for k, v in source.state_dict().items()}
        tower = model.model.vision_tower
        conv = state["embeddings.patch_embedding.weight"]  # (hidden, channels, patch, patch)
        _copy(
            tower.patch_embedding.weight,
            conv.permute(0, 2, 3, 1).reshape(conv.shape[0], -1),
            "patch_embedding",
        )
        _copy(tower.patch_embedding.bias, state["embeddings.patch_embedding.bias"], "patch_embedding.bias")
        _copy(
            tower.positional_embedding, state["embeddings.position_embedding.weight"], "positional_embedding"
        )
        copied["vision_tensors"] += 3
        renames = {"self_attn.out_proj": "self_attn.o_proj"}
        for i, layer in enumerate(tower.layers):
            for name, param in layer.named_parameters():
                key = name
                for new_name, old_name in ((v, k) for k, v in renames.items()):
                    key = key.replace(new_name, old_name)
                _copy(param, state[f"encoder.layers.{i}.{key}"], f"vision layer {i} {name}")
                copied["vision_tensors"] += 1
    if text:
        from transformers import AutoModelForCausalLM

        source = AutoModelForCausalLM.from_pretrained(text, dtype=torch.float32)
        state = source.state_dict()
        lm = model.model.language_model
        embed = state["model.embed_tokens.weight"]
        rows = min(embed.shape[0], lm.embed_tokens.weight.shape[0])
        if embed.shape[1] != lm.embed_tokens.weight.shape[1]:
            raise ValueError(f"embedding width {embed.shape[1]} != model {lm.embed_tokens.weight.shape[1]}")
        lm.embed_tokens.weight[:rows].copy_(embed[:rows])
        for name, param in lm.named_parameters():
            if name.startswith("embed_tokens"):
                continue
            _copy(param, state[f"model.{name}"], f"text {name}")
            copied["text_tensors"] += 1
        head = state.get("lm_head.weight", embed)
        _copy(model.lm_head.weight, head[: model.lm_head.weight.shape[0]], "lm_head")
        copied["text_tensors"] += 2
    return copied


# ------------------------------------------------------------------------------------------ optimiser groups


def component_of(name: str) -> str:
    """Which learning-rate group a parameter belongs to: ``vit``, ``connector`` or ``llm``."""
    if ".vision_tower." in f".{name}":
        return "vit"
    if ".multi_modal_projector." in f".{name}":
        return "connector"
    return "llm"


def parameter_groups(
    model: torch.nn.Module, lrs: dict[str, float], weight_decay: float
) -> list[dict[str, Any]]:
    """AdamW parameter groups: one per component (``lrs`` keys ``vit``, ``connector``, ``llm``), each split into
    decayed (matrices) and not decayed (norms, biases, embeddings, position tables) parameters. Each keeps its
    peak learning rate in ``peak_lr`` (:func:`learning_rate_schedule` scales it)."""
    groups: dict[tuple[str, bool], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        decay = param.ndim >= 2 and "embed" not in name and "positional_embedding" not in name
        groups.setdefault((component_of(name), decay), []).append(param)
    out = []
    for (component, decay), params in sorted(groups.items()):
        out.append(
            {
                "params": params,
                "lr": lrs[component],
                "peak_lr": lrs[component],
                "weight_decay": weight_decay if decay else 0.0,
                "component": component,
            }
        )
    return out


def learning_rate_schedule(
    optimizer: torch.optim.Optimizer,
    warmup_steps: int,
    total_steps: int,
    min_lr_ratio: float,
    start_step: int,
) -> torch.optim.lr_scheduler.LambdaLR:
    """transformers' cosine-with-warmup schedule (down to ``min_lr_ratio`` of each group's ``peak_lr``), positioned for
    step ``start_step`` (0 for a new run, the checkpoint's step on resume).

    transformers' warmup starts at 0 x the peak, which would spend the first step at lr 0; the schedule runs one
    step ahead, so step s trains at (s + 1) / warmup of the peak during warmup.
    """
    from transformers import get_cosine_with_min_lr_schedule_with_warmup

    for group in optimizer.param_groups:
        # From the group's own peak: a restored optimizer's lr is the decayed one, and FSDP's optimizer-state
        # loading drops ``initial_lr``.
        group["initial_lr"] = group["peak_lr"]
    return get_cosine_with_min_lr_schedule_with_warmup(
        optimizer, warmup_steps, total_steps, min_lr_rate=min_lr_ratio, last_epoch=start_step
    )


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    """Parameters per component and in total."""
    counts = {"vit": 0, "connector": 0, "llm": 0}
    for name, param in model.named_parameters():
        counts[component_of(name)] += param.numel()
    counts["total"] = sum(counts.values())
    return counts
