"""The :class:`Molmo2Sizes` a saved checkpoint was built with, read back from its files.

A stage that starts from a checkpoint (``model.init_from``, a resume) trains the model it loads, whatever its own
``model.sizes`` say; the train loop records these sizes in the config it saves, so each checkpoint's
``train_config.yaml`` describes the model beside it.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from training.molmo2.sizes import Molmo2Sizes


def checkpoint_sizes(model_dir: str | Path, base: Molmo2Sizes) -> Molmo2Sizes:
    """The sizes of the checkpoint in ``model_dir`` (``config.json``, ``processor_config.json``, the tokenizer and
    the chat template). The BPE target ``tokenizer_vocab_size`` is not in those files: it comes from ``base``.
    ``text_vocab_size`` reads ``None`` where the LM head ends where the image tokens start, as a build makes it."""
    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    processor = json.loads((model_dir / "processor_config.json").read_text())
    text, vision, adapter = config["text_config"], config["vision_config"], config["adapter_config"]
    image, video = processor["image_processor"], processor["video_processor"]
    rope = text.get("rope_parameters") or {}
    vocab = text["vocab_size"]
    return replace(
        base,
        text_hidden_size=text["hidden_size"],
        text_layers=text["num_hidden_layers"],
        text_heads=text["num_attention_heads"],
        text_kv_heads=text["num_key_value_heads"],
        text_head_dim=text["head_dim"],
        text_intermediate_size=text["intermediate_size"],
        text_vocab_size=None if vocab == config.get("image_start_token_id") else vocab,
        additional_vocab_size=text["additional_vocab_size"],
        max_position_embeddings=text["max_position_embeddings"],
        rope_theta=float(rope.get("rope_theta", text.get("rope_theta", base.rope_theta))),
        vision_hidden_size=vision["hidden_size"],
        vision_layers=vision["num_hidden_layers"],
        vision_heads=vision["num_attention_heads"],
        vision_head_dim=vision["head_dim"],
        vision_intermediate_size=vision["intermediate_size"],
        vision_feature_layers=tuple(adapter["vision_feature_layer"]),
        patch_size=image["patch_size"],
        crop_size=image["size"]["width"],
        adapter_intermediate_size=adapter["intermediate_size"],
        max_crops=image["max_crops"],
        overlap_margins=tuple(image["overlap_margins"]),
        image_pooling=tuple(image["pooling_size"]),
        video_pooling=tuple(video["pooling_size"]),
        video_num_frames=video["num_frames"],
        video_max_fps=float(video["max_fps"]),
        **tokenizer_facts(model_dir),
    )


def tokenizer_facts(model_dir: str | Path) -> dict[str, bool]:
    """From the saved processor: which coordinate and tag tokens the tokenizer has, and whether the chat template
    puts the picture after the question (rendered once to find out)."""
    from transformers import AutoProcessor

    from training.coords import coordinate_token_ids
    from training.molmo2.chat_format import POINT_TAG_TOKENS, SPACED_COORDINATE_TOKENS

    processor = AutoProcessor.from_pretrained(model_dir)
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "QUESTION"}]}],
        add_generation_prompt=True,
        tokenize=False,
    )
    vocab = processor.tokenizer.get_vocab()
    spaced = SPACED_COORDINATE_TOKENS[0] in vocab
    return {
        "coordinate_tokens": bool(coordinate_token_ids(processor.tokenizer)),
        "answer_tokens": spaced,
        "answer_tag_tokens": POINT_TAG_TOKENS[0] in vocab and not spaced,
        "question_first": text.find("QUESTION") < text.find("<|image|>"),
    }


def ignored_sizes(asked: Molmo2Sizes, loaded: Molmo2Sizes) -> dict[str, list[Any]]:
    """The sizes a config sets away from the defaults that the loaded checkpoint does not have:
    ``{field: [asked, loaded]}`` (they cannot change a model that already exists)."""
    default = Molmo2Sizes()
    return {
        f.name: [getattr(asked, f.name), getattr(loaded, f.name)]
        for f in fields(Molmo2Sizes)
        if getattr(asked, f.name) != getattr(default, f.name)
        and getattr(asked, f.name) != getattr(loaded, f.name)
    }


def start_sizes(start_dir: str | Path, asked: Molmo2Sizes) -> tuple[Molmo2Sizes, dict[str, list[Any]]]:
    """The sizes of the model a run starts from and :func:`ignored_sizes`; ``tokenizer_vocab_size`` comes from the
    ``train_config.yaml`` beside the model where there is one (the run that built it), else from ``asked``."""
    from training.checkpoint import CONFIG_FILE
    from training.config import load_config

    built = Path(start_dir) / CONFIG_FILE
    loaded = checkpoint_sizes(start_dir, load_config(built).model.sizes if built.is_file() else asked)
    ignored = ignored_sizes(asked, loaded)
    if ignored:
        warnings.warn(f"model.sizes ignored, the model in {start_dir} has its own: {ignored}", stacklevel=2)
    return loaded, ignored
