"""Build a Molmo2 checkpoint from scratch: tokenizer, configuration, random weights, processor.

The result is a directory that loads exactly like ``allenai/Molmo2-8B`` does::

    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path)

It serves three purposes:

* tests and the node tests get a tiny, random but real Molmo2 in about a second (:func:`tiny_checkpoint`);
* the training code starts from :func:`build_molmo2_checkpoint` with larger :class:`Molmo2Sizes` and its own
  corpus for the tokenizer;
* the benchmark builds a randomly initialised model with the real Molmo2-8B sizes
  (:meth:`Molmo2Sizes.molmo2_8b`), which costs the same compute per token as the real weights.

Facts about the format (taken from transformers' ``models/molmo2``): the text model's embedding has
``vocab_size + additional_vocab_size`` rows while the LM head only has ``vocab_size`` outputs, so the image
tokens live in the additional range and can never be generated; the processor prepends the tokenizer's BOS
(or EOS) token to every prompt and replaces ``<|image|>`` by ``<low_res_im_start>``/``<im_start>`` ...
``<im_patch>``/``<im_col>`` ... ``<im_end>`` strings; the model finds image positions by ``image_patch_id``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from training.molmo2.chat_format import (
    BOS_TOKEN,
    BUILD_INFO_FILE,
    CHAT_TEMPLATE,
    EOS_TOKEN,
    IMAGE_SPECIAL_TOKENS,
    PAD_TOKEN,
    QUESTION_FIRST_TEMPLATE,
    TEXT_SPECIAL_TOKENS,
)
from training.molmo2.sizes import BuildInfo, Molmo2Sizes
from training.molmo2.tokenizer import build_tokenizer, default_corpus


def build_molmo2(
    sizes: Molmo2Sizes | None = None,
    corpus: Iterable[str] | None = None,
    seed: int = 0,
    *,
    device: str = "cpu",
    dtype: str = "float32",
) -> tuple[Any, Any, BuildInfo]:
    """Build a randomly initialised Molmo2 model and its processor in memory.

    Args:
        sizes: model sizes (default: :meth:`Molmo2Sizes.tiny`).
        corpus: text the BPE tokenizer is trained on (default: :func:`default_corpus`); the training code passes
            its captions and answers.
        seed: seeds the weight initialisation (``torch.manual_seed``); the tokenizer training is deterministic.
        device: where the weights are created: ``"cpu"``, ``"cuda:0"`` ..., or ``"meta"`` (no memory: for
            counting parameters of huge configurations).
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"``.

    Returns:
        ``(model, processor, info)``: a ``Molmo2ForConditionalGeneration`` in eval mode, a ``Molmo2Processor``
        (tokenizer, image and video processors, chat template) and a :class:`BuildInfo` with ``path=None``.

    Raises:
        ValueError: sizes that cannot make a working model (see :meth:`Molmo2Sizes.validate`).
    """
    import torch
    from transformers import (
        GenerationConfig,
        Molmo2AdapterConfig,
        Molmo2Config,
        Molmo2ForConditionalGeneration,
        Molmo2ImageProcessor,
        Molmo2Processor,
        Molmo2TextConfig,
        Molmo2VideoProcessor,
        Molmo2VisionConfig,
    )

    sizes = sizes or Molmo2Sizes.tiny()
    sizes.validate()
    tokenizer = build_tokenizer(
        default_corpus() if corpus is None else corpus,
        sizes.tokenizer_vocab_size,
        sizes.coordinate_tokens,
        sizes.answer_tokens,
        sizes.answer_tag_tokens,
    )
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (*TEXT_SPECIAL_TOKENS, *IMAGE_SPECIAL_TOKENS)}
    # The text vocabulary ends where the image tokens start.
    base_vocab = min(ids[t] for t in IMAGE_SPECIAL_TOKENS)
    text_vocab = sizes.text_vocab_size if sizes.text_vocab_size is not None else base_vocab
    if text_vocab < base_vocab:
        raise ValueError(f"text_vocab_size {text_vocab} < the tokenizer's {base_vocab} text tokens")
    if max(ids.values()) >= text_vocab + sizes.additional_vocab_size:
        raise ValueError("the image tokens do not fit in text_vocab_size + additional_vocab_size")

    crop = [sizes.crop_size, sizes.crop_size]
    vision = Molmo2VisionConfig(
        hidden_size=sizes.vision_hidden_size,
        intermediate_size=sizes.vision_intermediate_size,
        num_hidden_layers=sizes.vision_layers,
        num_attention_heads=sizes.vision_heads,
        num_key_value_heads=sizes.vision_heads,
        head_dim=sizes.vision_head_dim,
        image_size=crop,
        patch_size=sizes.patch_size,
    )
    adapter = Molmo2AdapterConfig(
        vision_feature_layer=list(sizes.vision_feature_layers),
        hidden_size=sizes.vision_hidden_size,
        num_attention_heads=sizes.vision_heads,
        num_key_value_heads=sizes.vision_heads,
        head_dim=sizes.vision_head_dim,
        intermediate_size=sizes.adapter_intermediate_size,
        text_hidden_size=sizes.text_hidden_size,
    )
    text = Molmo2TextConfig(
        hidden_size=sizes.text_hidden_size,
        num_attention_heads=sizes.text_heads,
        num_key_value_heads=sizes.text_kv_heads,
        head_dim=sizes.text_head_dim,
        vocab_size=text_vocab,
        additional_vocab_size=sizes.additional_vocab_size,
        num_hidden_layers=sizes.text_layers,
        intermediate_size=sizes.text_intermediate_size,
        max_position_embeddings=sizes.max_position_embeddings,
        rope_parameters={"rope_type": "default", "rope_theta": sizes.rope_theta},
        bos_token_id=ids[BOS_TOKEN],
        eos_token_id=ids[EOS_TOKEN],
        pad_token_id=ids[PAD_TOKEN],
    )
    config = Molmo2Config(
        vision_config=vision,
        adapter_config=adapter,
        text_config=text,
        image_start_token_id=ids["<im_start>"],
        low_res_image_start_token_id=ids["<low_res_im_start>"],
        image_end_token_id=ids["<im_end>"],
        image_patch_id=ids["<im_patch>"],
        frame_start_token_id=ids["<frame_start>"],
        frame_end_token_id=ids["<frame_end>"],
        bos_token_id=ids[BOS_TOKEN],
        eos_token_id=ids[EOS_TOKEN],
        pad_token_id=ids[PAD_TOKEN],
    )

    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    previous_dtype = torch.get_default_dtype()
    try:
        # Built directly in the target dtype and on the target device: an 8B model never exists in fp32
        # (35 GB) on its way to a GPU. On the meta device nothing is allocated at all.
        torch.set_default_dtype(torch_dtype)
        with torch.device(device):
            torch.manual_seed(seed)
            model = Molmo2ForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous_dtype)
    model.eval()
    num_parameters = sum(p.numel() for p in model.parameters())
    model.generation_config = GenerationConfig(
        bos_token_id=ids[BOS_TOKEN],
        # <|im_end|> closes the assistant turn; <|endoftext|> also stops, as in Qwen-based checkpoints.
        eos_token_id=[ids[EOS_TOKEN], ids[BOS_TOKEN]],
        pad_token_id=ids[PAD_TOKEN],
        do_sample=False,
        max_new_tokens=64,
    )

    size = {"height": sizes.crop_size, "width": sizes.crop_size}
    image_processor = Molmo2ImageProcessor(
        size=size,
        max_crops=sizes.max_crops,
        overlap_margins=list(sizes.overlap_margins),
        patch_size=sizes.patch_size,
        pooling_size=list(sizes.image_pooling),
    )
    video_processor = Molmo2VideoProcessor(
        size=size,
        patch_size=sizes.patch_size,
        pooling_size=list(sizes.video_pooling),
        num_frames=sizes.video_num_frames,
        max_fps=sizes.video_max_fps,
    )
    processor = Molmo2Processor(
        image_processor=image_processor,
        video_processor=video_processor,
        tokenizer=tokenizer,
        chat_template=QUESTION_FIRST_TEMPLATE if sizes.question_first else CHAT_TEMPLATE,
    )

    info = BuildInfo(
        path=None,
        sizes=sizes,
        seed=seed,
        num_parameters=num_parameters,
        text_vocab_size=text_vocab,
        special_token_ids=ids,
    )
    return model, processor, info


def build_molmo2_checkpoint(
    out_dir: str | os.PathLike[str],
    sizes: Molmo2Sizes | None = None,
    corpus: Iterable[str] | None = None,
    seed: int = 0,
    *,
    dtype: str = "float32",
    save: bool = True,
) -> BuildInfo:
    """Build a randomly initialised Molmo2 checkpoint directory (model, processor, tokenizer, generation config).

    Args:
        out_dir: directory to write; created if missing; existing files of the same names are overwritten.
        sizes, corpus, seed: as for :func:`build_molmo2`.
        dtype: weight dtype written to disk, ``"float32"`` or ``"bfloat16"``.
        save: ``False`` builds everything on the meta device and writes nothing (to size huge configurations).

    Returns:
        A :class:`BuildInfo`; the directory then loads with ``AutoProcessor`` / ``AutoModelForImageTextToText``.

    Raises:
        ValueError: sizes that cannot make a working model (see :meth:`Molmo2Sizes.validate`).
    """
    model, processor, info = build_molmo2(sizes, corpus, seed, device="cpu" if save else "meta", dtype=dtype)
    out = Path(out_dir)
    info = replace(info, path=out)
    if save:
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out)
        fix_embedding_split(out)
        processor.save_pretrained(out)
        record = asdict(info)
        record["path"] = str(out)
        (out / BUILD_INFO_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return info


def fix_embedding_split(checkpoint_dir: str | os.PathLike[str]) -> bool:
    """Store the token embedding as the released Molmo2 checkpoints do: ``wte.embedding`` with ``vocab_size``
    rows and ``wte.new_embedding`` with ``additional_vocab_size`` rows.

    transformers (5.23) loads the two tables by concatenating them, but on ``save_pretrained`` it splits the
    concatenated table into two *equal* halves. Reloading through transformers gives the same model either way;
    other Molmo2 readers (vLLM, the original Molmo code) expect the real split. Call this after every
    ``save_pretrained`` of a Molmo2 model (the training code's export does).

    Args:
        checkpoint_dir: a directory written by ``save_pretrained`` (one file or sharded safetensors).

    Returns:
        True if the tables were rewritten, False if they were already split right (or absent).
    """
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    root = Path(checkpoint_dir)
    config = json.loads((root / "config.json").read_text())
    vocab = int(config["text_config"]["vocab_size"])
    index_file = root / "model.safetensors.index.json"
    if index_file.is_file():
        weight_map: dict[str, str] = json.loads(index_file.read_text())["weight_map"]
    else:
        with safe_open(str(root / "model.safetensors"), framework="pt") as handle:
            weight_map = {k: "model.safetensors" for k in handle.keys()}  # noqa: SIM118 (not a dict)
    base_key = next((k for k in weight_map if k.endswith("transformer.wte.embedding")), None)
    if base_key is None:
        return False
    new_key = base_key.replace("wte.embedding", "wte.new_embedding")
    files = {weight_map[base_key], weight_map[new_key]}
    tensors = {name: load_file(str(root / name)) for name in files}
    base = tensors[weight_map[base_key]][base_key]
    if base.shape[0] == vocab:
        return False
    table = torch.cat([base, tensors[weight_map[new_key]][new_key]], dim=0)
    tensors[weight_map[base_key]][base_key] = table[:vocab].contiguous()
    tensors[weight_map[new_key]][new_key] = table[vocab:].contiguous()
    for name, content in tensors.items():
        save_file(content, str(root / name), metadata={"format": "pt"})
    return True


# ----------------------------------------------------------------------------------- cached tiny model


_CACHE_LOCK = threading.Lock()
_CACHED: dict[str, Path] = {}


def _cache_key(sizes: Molmo2Sizes, seed: int) -> str:
    import transformers

    text = json.dumps({"sizes": asdict(sizes), "seed": seed, "transformers": transformers.__version__,
                       "template": CHAT_TEMPLATE, "format": 3}, sort_keys=True)  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def tiny_checkpoint(
    cache_dir: str | os.PathLike[str] | None = None,
    sizes: Molmo2Sizes | None = None,
    seed: int = 0,
) -> Path:
    """The path of a tiny random Molmo2 checkpoint, built once and then reused (for tests and benchmarks).

    The directory is keyed by the sizes, the seed and the transformers version, built in a temporary sibling
    and renamed into place, so concurrent test processes never see half a checkpoint. Treat it as read-only.

    Args:
        cache_dir: parent directory (default: ``$MOLMO_ROS_CACHE`` or ``<tmp>/molmo_ros-<user>``).
        sizes: model sizes (default: :meth:`Molmo2Sizes.tiny`).
        seed: weight-initialisation seed.

    Returns:
        The checkpoint directory (loads with ``AutoProcessor`` / ``AutoModelForImageTextToText``).
    """
    sizes = sizes or Molmo2Sizes.tiny()
    if cache_dir is None:
        cache_dir = (
            os.environ.get("MOLMO_ROS_CACHE") or Path(tempfile.gettempdir()) / f"molmo_ros-{os.getuid()}"
        )
    parent = Path(cache_dir)
    final = parent / f"molmo2-tiny-{_cache_key(sizes, seed)}"
    with _CACHE_LOCK:
        cached = _CACHED.get(str(final))
        if cached is not None and (cached / BUILD_INFO_FILE).is_file():
            return cached
        if not (final / BUILD_INFO_FILE).is_file():
            parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=final.name + ".", dir=parent))
            try:
                build_molmo2_checkpoint(staging, sizes=sizes, seed=seed)
                try:
                    staging.rename(final)
                except OSError:
                    # Another process renamed its copy first; theirs is as good as ours.
                    if not (final / BUILD_INFO_FILE).is_file():
                        raise
            finally:
                if staging.exists():
                    shutil.rmtree(staging, ignore_errors=True)
        _CACHED[str(final)] = final
        return final


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m training.molmo2.build OUT_DIR [--seed N]``: write a tiny random checkpoint."""
    import argparse

    parser = argparse.ArgumentParser(description=_main.__doc__)
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    info = build_molmo2_checkpoint(args.out_dir, seed=args.seed)
    print(json.dumps({"path": str(info.path), "num_parameters": info.num_parameters}))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
