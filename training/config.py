"""Typed training configuration: dataclasses, read from YAML, overridden from the command line.

One :class:`TrainConfig` describes a run of either stage; the stages differ only in their YAML files
(``training/configs/stage1_caption.yaml``, ``stage2_pointing.yaml``, and ``stage2_polish.yaml``, stage 2's second
pass, whose ``base: stage2_pointing.yaml`` is read first and changed by the rest). Nested sections are dataclasses
(:class:`ModelConfig`, :class:`OptimConfig`, :class:`DataConfig`, :class:`AuxConfig`); the model sizes reuse
:class:`training.molmo2.Molmo2Sizes`.

Overrides, applied after the YAML file, in order::

    --set optim.lr_llm=1e-3 --set data.batch_size=8     # dotted path = YAML value
    --lr_llm 1e-3 --steps 200                            # shorthand for any unique field name

Every checkpoint stores the resolved configuration as ``train_config.yaml``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from training.molmo2 import Molmo2Sizes

__all__ = [
    "AuxConfig",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "apply_overrides",
    "from_dict",
    "load_config",
    "read_config_values",
    "to_dict",
]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass
class ModelConfig:
    """The model to train: sizes, initialisation, or where to start from."""

    sizes: Molmo2Sizes = field(default_factory=Molmo2Sizes)  # all Molmo2 sizes (tokens, px, patches)
    init_from: str = (
        ""  # a Molmo2 checkpoint directory to start from (stage 2: the stage-1 export); "" = new model
    )
    init_seed: int = 0  # seed of the random initialisation of a new model
    vit_pos_init: str = (
        "sincos"  # ViT position embedding init: "sincos" (2-D sine-cosine) or "normal" (as built)
    )
    vit_pos_scale: float = 1.0  # multiplier of the 2-D sine-cosine table (RMS ~0.7 at 1.0)
    connector_init: str = "fan_in"  # connector (pooling attention + projector) init: "fan_in" (std 1/sqrt(fan-in)) or "as_built"
    image_feature_rms: float = (
        0.5  # rescale the connector so image features have this RMS at init; 0 = as built
    )
    pretrained_vision: str = (
        ""  # SigLIP vision checkpoint (dir or hub id) to copy into the ViT; sizes must match
    )
    pretrained_text: str = (
        ""  # Qwen3 causal-LM checkpoint (dir or hub id) to copy into the LM; sizes must match
    )
    qk_norm_gain: float = 1.0  # initial gain of the LM's q_norm / k_norm weights: 2 scales the attention logits by 4 at step 0, so heads can focus on the one or two image tokens of an object (../shared/probes: +5 points of hits)
    tokenizer_corpus_rows: int = 4000  # training rows whose text trains the BPE tokenizer of a new model
    coordinate_code_frequencies: int = 8  # with sizes.coordinate_tokens: frequencies of the smooth code (training.coords.position_code) the coordinate tokens' embedding and LM-head rows start from (0 = random rows)
    coordinate_code_scale: float = (
        1.0  # amplitude of that code in the LM-head rows (the embedding rows get a tenth)
    )


@dataclass
class OptimConfig:
    """AdamW with per-component learning rates, linear warmup and cosine decay (as in Molmo)."""

    lr_vit: float = 1e-3  # peak learning rate of the vision encoder
    lr_connector: float = 2e-3  # peak learning rate of the connector (pooling attention + projector)
    lr_llm: float = 1e-3  # peak learning rate of the language model (embeddings, layers, LM head)
    warmup_steps: int = 100  # linear warmup from 0 (steps)
    min_lr_ratio: float = 0.1  # the cosine decays to this fraction of the peak
    weight_decay: float = 0.01  # AdamW decoupled weight decay (not on norms, biases, embeddings)
    betas: tuple[float, float] = (0.9, 0.95)  # AdamW betas
    eps: float = 1e-8  # AdamW epsilon
    grad_clip: float = 1.0  # max global gradient norm (0 = no clipping)


@dataclass
class AuxConfig:
    """Training-only auxiliary vision loss: our stand-in for Molmo's pretrained (CLIP / SigLIP) vision encoder,
    which cannot be downloaded here. Linear heads read the ViT patch features (and the connector's image tokens)
    and predict, per patch / token, which object colour and kind covers it (soft targets from the rendered masks,
    :func:`training.batching.patch_targets`). The heads are not part of the exported model."""

    patch_weight: float = 0.0  # weight of the per-patch colour + kind loss on the ViT output (0 = off)
    token_weight: float = 0.0  # weight of the per-token colour + kind loss on the connector output (0 = off)
    position_weight: float = 0.0  # weight of the per-token (x, y) read-out on the connector output: keeps each image token's place in the picture linearly readable (0 = off)
    object_kind_weight: float = 0.0  # weight of the per-object kind loss: each object's ViT patch features pooled by its mask coverage, then classified, so a mug's handle can decide for the whole mug (R19; 0 = off)
    object_weight: float = 5.0  # extra weight of patches / tokens that an object covers (x (1 + w * covered))
    pointer_weight: float = (
        0.0  # weight of the pointer loss: LM states at coordinate digits -> the object's tokens
    )
    pointer_layer: int = 2  # LM layer whose hidden states the pointer loss reads (0 = embeddings)
    pointer_dim: int = 64  # width of the pointer's query / key projections
    attention_weight: float = (
        0.0  # weight of the attention loss: LM heads at coordinate digits -> the object's tokens
    )
    attention_layers: tuple[int, ...] = (
        2,
    )  # LM layers (0-based) whose first head(s) the attention loss guides
    attention_heads: int = 1  # heads per guided layer (the first ones); the rest stay free
    attention_next: bool = False  # the attention loss also guides the positions that decide whether a point group follows (the answer's first token, each group's last coordinate) to the next group's object (training.aux_targets.pointer_targets)
    coord_weight: float = (
        0.0  # weight of the coordinate loss: LM states at coordinate digits -> the point (x, y)
    )
    coord_layer: int = -1  # LM hidden-state index the coordinate loss reads (-1 = the last layer's output)
    position_frequencies: int = 0  # > 0: the position target of each image token is the smooth code (training.coords.position_code, this many frequencies) of the point of the object covering it (its own place where none does), instead of its own (x, y)
    relevance_weight: float = 0.0  # weight of the relevance loss: at LM layer `relevance_layer`, each image token says whether it shows what the (first) question asks for (soft BCE on the objects' share; all 0 for absent objects). Needs the question before the picture
    order_weight: float = 0.0  # weight of the order loss: at the same layer, each image token says which point group of the answer its object gets (1st, 2nd, ..., training.aux_targets.relevance_targets with ranks); 0 = off
    order_ranks: int = (
        3  # classes of the order loss besides "no asked-for object" (later groups share the last)
    )
    relevance_layer: int = (
        2  # LM hidden-state index the relevance head reads (0 = embeddings, i = after layer i)
    )
    lr: float = 3e-3  # peak learning rate of the auxiliary heads (same warmup + cosine)
    end_ratio: float = 1.0  # the aux weights fall linearly to this fraction of themselves at the last step

    @property
    def active(self) -> bool:
        """Whether any auxiliary loss is on (then the heads are trained and the batches carry their targets)."""
        weights = (self.patch_weight, self.token_weight, self.position_weight, self.object_kind_weight)
        weights += (self.pointer_weight, self.attention_weight, self.coord_weight, self.relevance_weight)
        return any(w > 0 for w in (*weights, self.order_weight))

    @property
    def active_order_ranks(self) -> int:
        """``order_ranks`` when the order loss is on, else 0: its head and its targets exist only then."""
        return self.order_ranks if self.order_weight > 0 else 0


@dataclass
class DataConfig:
    """Where the examples come from and how they are batched."""

    format: str = "synthetic"  # "synthetic" (training.data.build output), "pixmo_cap" or "pixmo_points"
    train: str = "out/training/data/mixture"  # dataset directory (save_to_disk) or data files
    more_train: tuple[str, ...] = ()  # further sets of the same format (place / sort scenes), mixed in
    eval_fraction: float = 0.02  # rows held out of each set for the loss and the picture control
    batch_size: int = 16  # examples per step per process
    max_turns: int = 3  # questions per example: drawn uniformly from 1..max_turns of the row's questions
    questions_per_picture: int = 1  # examples made of each drawn picture, each with its own first question; the ViT runs once per picture (divides batch_size)
    max_seq_len: int = 768  # tokens; longer examples are cut (labels too)
    num_workers: int = 0  # DataLoader worker processes preparing batches
    picture_cache_rows: int = (
        20000  # rows whose processed picture stays in memory (uint8, ~0.3 MB each at 224 px; 0 = none)
    )
    picture_store: str = ""  # folder keeping each picture's processed pixels and object fractions on disk for later stages and runs ("" = none; training/picture_store.py)
    style_weights: dict[str, float] = field(
        default_factory=dict
    )  # how often a row's question of each style is drawn, relative to 1 (styles not named: 1; "qa" = every qa_* style; "<style>:none" / "<style>:several" for answers with no / two or more points; "lookalike" multiplies a question naming a cup where a mug is visible or the reverse); shifts the mixture without re-rendering
    control_styles: tuple[str, ...] = (
        "point",
        "point_all",
        "count",
    )  # turn styles used by the picture control


@dataclass
class TrainConfig:
    """One training run (either stage)."""

    stage: str = "stage2"  # "stage1" (captions) or "stage2" (pointing mixture); a name for logs and cards
    out_dir: str = "out/training/stage2"  # checkpoints, logs and the final export go here
    seed: int = 0  # seeds data order, turn sampling and torch
    steps: int = 1000  # optimizer steps
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    aux: AuxConfig = field(default_factory=AuxConfig)
    log_every: int = 10  # steps between log lines (loss, lr, speed)
    eval_every: int = 200  # steps between held-out loss + picture-control measurements (0 = only at the end)
    save_every: int = 500  # steps between resumable checkpoints (0 = only at the end)
    keep_checkpoints: int = 2  # resumable checkpoints kept (older ones are deleted)
    threads: int = 0  # torch intra-op threads per process (0 = torch's default)
    max_minutes: float = 0.0  # wall-clock budget of the step loop: past it the run ends as if its schedule had (evaluation, final export), at whatever step it reached; 0 = none
    parallel: str = "ddp"  # with WORLD_SIZE > 1: "ddp" (DistributedDataParallel) or "fsdp" (fully_shard)
    debug: bool = False  # tiny model, few steps, small data: a smoke run in seconds
    decision_weight: float = 1.0  # weight of the answer loss on the tokens that decide how many points an answer gives (its first token; the token after each coordinate: another group or the end), training.metrics.answer_loss
    vision_only: bool = False  # train only the ViT and the connector, on the aux colour / kind / position heads, with no language-model pass and no answer loss (training.vision_pass; the held-out losses still run the whole model)
    precision: str = "fp32"  # "fp32", or "bf16": the training forward passes and losses under torch.autocast(bfloat16); weights, gradients, optimizer state, held-out losses and the export stay fp32
    coordinate_sigma: float = 0.0  # with coordinate tokens: the answer loss on a coordinate is a soft cross-entropy against a Gaussian of this width (units of the 0-1000 scale) around the true value; 0 = plain cross-entropy


# ------------------------------------------------------------------------------------------ (de)serialising


def to_dict(obj: Any) -> Any:
    """A dataclass (nested) as plain YAML/JSON values (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def _coerce(kind: Any, value: Any, where: str) -> Any:
    """``value`` converted to the annotated type ``kind`` (dataclass, tuple, scalar)."""
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(kind, value, where)
    if origin in (tuple, list):
        args = typing.get_args(kind)
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_coerce(inner, v, where) for v in value]
        return tuple(items) if origin is tuple else items
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where)
    if kind is bool:
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, got {value!r}")
        return value
    if kind in (int, float, str):
        try:
            if kind is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return kind(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: expected {kind.__name__}, got {value!r}") from exc
    return value


def from_dict(cls: type, values: dict[str, Any], where: str = "config") -> Any:
    """Build dataclass ``cls`` from a mapping; unknown keys are an error, missing keys keep their defaults."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; known: {sorted(names)}")
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}") for k, v in values.items()}
    return cls(**kwargs)


def _paths(cls: type, prefix: str = "") -> dict[str, str]:
    """Every field's dotted path, keyed by dotted path and by its last name (when unique)."""
    out: dict[str, str] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        out[path] = path  # a section can be set whole (a YAML mapping) or field by field
        if dataclasses.is_dataclass(hints[f.name]):
            out.update(_paths(hints[f.name], path + "."))
    return out


def _leaf_index(cls: type) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for path in _paths(cls):
        index.setdefault(path.rsplit(".", 1)[-1], []).append(path)
    return index


def apply_overrides(values: dict[str, Any], overrides: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Apply ``(key, yaml_value)`` pairs to a nested config mapping; ``key`` is a dotted path or a unique field
    name (``lr_llm`` -> ``optim.lr_llm``).

    Raises:
        ValueError: an unknown or ambiguous key.
    """
    full = _paths(TrainConfig)
    leaves = _leaf_index(TrainConfig)
    for key, raw in overrides:
        key = key.replace("-", "_")
        if key in full:
            path = key
        elif len(leaves.get(key, [])) == 1:
            path = leaves[key][0]
        elif key in leaves:
            raise ValueError(f"override {key!r} is ambiguous: use one of {leaves[key]}")
        else:
            raise ValueError(f"unknown config field {key!r}")
        node = values
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw) if raw != "" else ""
    return values


def _config_file(path: str | Path) -> Path:
    """``path`` as given, else a file of that name (with or without ``.yaml``) in ``training/configs``."""
    file = Path(path)
    for candidate in (file, CONFIG_DIR / file, CONFIG_DIR / f"{file}.yaml"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"no config file {str(path)!r} (looked in . and {CONFIG_DIR})")


def _merged(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` over ``base``: mappings merge key by key (sections, ``style_weights``), anything else replaces."""
    out = dict(base)
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def read_config_values(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The mapping a YAML config file gives, its ``base:`` file (a config it changes) merged underneath.

    Raises:
        ValueError: the ``base:`` files form a loop.
    """
    file = _config_file(path).resolve()
    if file in _chain:
        raise ValueError(f"config base loop: {' -> '.join(p.name for p in (*_chain, file))}")
    values = yaml.safe_load(file.read_text()) or {}
    base = values.pop("base", None)
    if base is None:
        return values
    return _merged(read_config_values(base, (*_chain, file)), values)


def load_config(path: str | Path | None, overrides: Sequence[tuple[str, str]] = ()) -> TrainConfig:
    """Read a YAML file (a bare name is looked up in ``training/configs``; ``base: OTHER.yaml`` in it reads that
    file first and changes it), apply overrides, build the dataclass."""
    values = read_config_values(path) if path else {}
    values = apply_overrides(values, overrides)
    return from_dict(TrainConfig, values)


def save_config(config: TrainConfig, path: str | Path) -> None:
    """Write the resolved configuration as YAML."""
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
