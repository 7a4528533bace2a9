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
import random
import shutil
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = [
    "BOS_TOKEN",
    "CHAT_TEMPLATE",
    "COORDINATE_TOKENS",
    "EOS_TOKEN",
    "IMAGE_SPECIAL_TOKENS",
    "PAD_TOKEN",
    "QUESTION_FIRST_TEMPLATE",
    "TEXT_SPECIAL_TOKENS",
    "BuildInfo",
    "Molmo2Sizes",
    "build_molmo2",
    "build_molmo2_checkpoint",
    "build_tokenizer",
    "default_corpus",
    "fix_embedding_split",
    "tiny_checkpoint",
]

# Chat tokens, as in the Qwen tokenizers Molmo2 builds on. They belong to the generatable text vocabulary.
BOS_TOKEN = "<|endoftext|>"
IM_START_TOKEN = "<|im_start|>"
EOS_TOKEN = "<|im_end|>"  # every answer ends with it: the chat template closes each turn with it
PAD_TOKEN = BOS_TOKEN
TEXT_SPECIAL_TOKENS: tuple[str, ...] = (BOS_TOKEN, IM_START_TOKEN, EOS_TOKEN)

# Every value of Molmo2's 0-1000 coordinate scale as written in its answers ("000" ... "999", "1000"): with
# ``coordinate_tokens`` each becomes one ordinary (generatable, decodable) token, so a coordinate is one
# prediction instead of three dependent digits; the text, the parser and the node see the same string.
COORDINATE_TOKENS: tuple[str, ...] = (*(f"{v:03d}" for v in range(1000)), "1000")

# The tokens Molmo2Processor and Molmo2Config refer to. The order mirrors the released checkpoints' ids
# (im_start = base + 0, im_end = +1, im_patch = +2, ..., low_res_im_start = +4, frame_start = +7, frame_end = +8).
IMAGE_SPECIAL_TOKENS: tuple[str, ...] = (
    "<im_start>",
    "<im_end>",
    "<im_patch>",
    "<im_col>",
    "<low_res_im_start>",
    "<|image|>",
    "<im_low>",
    "<frame_start>",
    "<frame_end>",
    "<|video|>",
)

# Chat templates written for this project. Both render one ``<|image|>`` placeholder per image (``Image N<|image|>``
# when there are several) and one per video, then ChatML turns; unlike the released template, an assistant turn is
# always closed with ``<|im_end|>`` so training data teaches the model to stop there.
# * CHAT_TEMPLATE (image first) renders the same prompt strings as the released Molmo2 checkpoints for our use:
#   every picture ahead of the conversation.
# * QUESTION_FIRST_TEMPLATE puts the pictures after the first user turn's text, inside that turn. A causal decoder
#   then reads the question before the picture, so every image token can attend to the words it must match
#   ("red", "cup"); with the picture first only the answer positions can, and a small decoder learns that
#   binding far more slowly (../shared/probes: 62 % vs 21.5 % hits). The processor expands ``<|image|>``
#   wherever the template puts it, so the model and the output format stay Molmo2's.
_TEMPLATE_COUNT = (
    "{%- set counts = namespace(images=0, videos=0) -%}"
    "{%- for message in messages if message['content'] is not string -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or 'image' in part or 'image_url' in part -%}"
    "{%- set counts.images = counts.images + 1 -%}"
    "{%- elif part['type'] == 'video' or 'video' in part or 'video_url' in part -%}"
    "{%- set counts.videos = counts.videos + 1 -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endfor -%}"
)
_TEMPLATE_MEDIA = (
    "{%- if counts.images == 1 -%}<|image|>"
    "{%- else -%}{%- for n in range(counts.images) -%}Image {{ n + 1 }}<|image|>{%- endfor -%}"
    "{%- endif -%}"
    "{%- for n in range(counts.videos) -%}<|video|>{%- endfor -%}"
)
_TEMPLATE_TURN_TEXT = (
    "{%- if message['role'] not in ('user', 'assistant') -%}"
    "{{ raise_exception('Molmo2 chats only have user and assistant turns, got ' ~ message['role']) }}"
    "{%- endif -%}"
    "{%- if message['content'] is string -%}{%- set text = message['content'] -%}"
    "{%- else -%}"
    "{%- set joined = namespace(text='') -%}"
    "{%- for part in message['content'] if part['type'] == 'text' -%}"
    "{%- set joined.text = joined.text ~ (' ' if joined.text else '') ~ part['text'] -%}"
    "{%- endfor -%}"
    "{%- set text = joined.text -%}"
    "{%- endif -%}"
)
_TEMPLATE_END = "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
CHAT_TEMPLATE = (
    _TEMPLATE_COUNT
    + _TEMPLATE_MEDIA
    + "{%- for message in messages -%}"
    + _TEMPLATE_TURN_TEXT
    + "{{ '<|im_start|>' ~ message['role'] ~ '\\n' ~ text ~ '<|im_end|>\\n' }}"
    + "{%- endfor -%}"
    + _TEMPLATE_END
)
QUESTION_FIRST_TEMPLATE = (
    _TEMPLATE_COUNT
    + "{%- for message in messages -%}"
    + _TEMPLATE_TURN_TEXT
    + "{{ '<|im_start|>' ~ message['role'] ~ '\\n' ~ text }}"
    + "{%- if loop.first -%}{{ '\\n' if text else '' }}"
    + _TEMPLATE_MEDIA
    + "{%- endif -%}"
    + "{{ '<|im_end|>\\n' }}"
    + "{%- endfor -%}"
    + _TEMPLATE_END
)

BUILD_INFO_FILE = "molmo_ros_build.json"


@dataclass(frozen=True)
class Molmo2Sizes:
    """Every size a Molmo2 checkpoint is built with; the defaults are the tiny test model (~0.3 M parameters).

    Lengths are in tokens, image sizes in pixels, pooling and margins in ViT patches.
    """

    # Language model (Qwen3-style decoder).
    text_hidden_size: int = 64
    text_layers: int = 2
    text_heads: int = 4
    text_kv_heads: int = 2
    text_head_dim: int = 16
    text_intermediate_size: int = 128
    text_vocab_size: int | None = None
    """Rows of the LM head. ``None``: exactly the trained tokenizer's text vocabulary, so the image tokens fall in
    the additional (non-generatable) range as in the released checkpoints."""
    additional_vocab_size: int = 16
    """Extra embedding rows after ``text_vocab_size``; must hold the ten image/video special tokens."""
    max_position_embeddings: int = 4096
    rope_theta: float = 1_000_000.0
    # Vision transformer (SigLIP-style).
    vision_hidden_size: int = 32
    vision_layers: int = 2
    vision_heads: int = 2
    vision_head_dim: int = 16
    vision_intermediate_size: int = 64
    vision_feature_layers: tuple[int, ...] = (-1,)
    """ViT layers (negative: from the last) whose outputs the adapter concatenates and pools."""
    patch_size: int = 14
    crop_size: int = 112
    # Vision-to-language adapter.
    adapter_intermediate_size: int = 128
    # Image processor (multi-crop with overlap) and video processor.
    max_crops: int = 4
    overlap_margins: tuple[int, int] = (2, 2)
    image_pooling: tuple[int, int] = (2, 2)
    video_pooling: tuple[int, int] = (3, 3)
    video_num_frames: int = 8
    video_max_fps: float = 2.0
    # Tokenizer and chat template.
    tokenizer_vocab_size: int = 512
    """Target size of the byte-level BPE vocabulary (a small corpus may yield fewer tokens)."""
    coordinate_tokens: bool = False
    """Add one token per coordinate value (:data:`COORDINATE_TOKENS`) on top of the BPE vocabulary."""
    question_first: bool = False
    """Chat template: the picture after the first question (:data:`QUESTION_FIRST_TEMPLATE`), else before it."""

    def validate(self) -> None:
        """Raise ``ValueError`` with a reason when the sizes cannot make a working model."""
        if self.crop_size % self.patch_size:
            raise ValueError(
                f"crop_size {self.crop_size} px is not a multiple of patch_size {self.patch_size} px"
            )
        crop_patches = self.crop_size // self.patch_size
        if crop_patches - sum(self.overlap_margins) <= 0:
            # The processor tiles with windows of (crop - margins) patches; zero or less cannot tile anything.
            raise ValueError(
                f"crop of {crop_patches} patches leaves no window after overlap margins {list(self.overlap_margins)}"
            )
        if self.additional_vocab_size < len(IMAGE_SPECIAL_TOKENS):
            raise ValueError(
                f"additional_vocab_size {self.additional_vocab_size} < {len(IMAGE_SPECIAL_TOKENS)} image tokens"
            )
        if self.text_heads % self.text_kv_heads or self.vision_heads <= 0:
            raise ValueError("text_heads must be a multiple of text_kv_heads")
        for layer in self.vision_feature_layers:
            if not -self.vision_layers <= layer < self.vision_layers:
                raise ValueError(f"vision feature layer {layer} outside the {self.vision_layers} ViT layers")
        if self.tokenizer_vocab_size <= 256 + len(TEXT_SPECIAL_TOKENS):
            raise ValueError("tokenizer_vocab_size must exceed the 256 byte symbols plus the chat tokens")

    @classmethod
    def tiny(cls) -> Molmo2Sizes:
        """The tiny test model (the defaults)."""
        return cls()

    @classmethod
    def molmo2_8b(cls) -> Molmo2Sizes:
        """The sizes of ``allenai/Molmo2-8B``: Qwen3-8B language model, SigLIP so400m/14 at 378 px (the 25 ViT
        layers its weights have; the adapter reads layers 24 and 18), 2x2 image pooling, up to 8 crops."""
        return cls(
            text_hidden_size=4096,
            text_layers=36,
            text_heads=32,
            text_kv_heads=8,
            text_head_dim=128,
            text_intermediate_size=12288,
            text_vocab_size=151936,
            additional_vocab_size=128,
            max_position_embeddings=36864,
            vision_hidden_size=1152,
            vision_layers=25,
            vision_heads=16,
            vision_head_dim=72,
            vision_intermediate_size=4304,
            vision_feature_layers=(24, 18),
            patch_size=14,
            crop_size=378,
            adapter_intermediate_size=12288,
            max_crops=8,
            overlap_margins=(4, 4),
            image_pooling=(2, 2),
            video_pooling=(3, 3),
            video_num_frames=64,
        )

    @classmethod
    def molmo2_4b(cls) -> Molmo2Sizes:
        """The sizes of ``allenai/Molmo2-4B``: as 8B with a Qwen3-4B language model."""
        return replace(
            cls.molmo2_8b(),
            text_hidden_size=2560,
            text_intermediate_size=9728,
            adapter_intermediate_size=9728,
        )


@dataclass(frozen=True)
class BuildInfo:
    """What :func:`build_molmo2_checkpoint` made (also written as ``molmo_ros_build.json`` in the directory)."""

    path: Path | None
    sizes: Molmo2Sizes
    seed: int
    num_parameters: int
    text_vocab_size: int
    special_token_ids: dict[str, int] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------- corpus


_COLOURS = ("red", "green", "blue", "yellow", "orange", "purple", "white", "black", "grey", "brown", "pink")
_OBJECTS = (
    "cup", "mug", "bowl", "plate", "bottle", "can", "box", "block", "cube", "ball", "disc", "square",
    "banana", "apple", "orange", "lemon", "spoon", "fork", "knife", "pen", "marker", "book", "phone",
    "sponge", "tray", "basket", "jar", "lid", "toy", "car", "robot", "gripper", "arm", "table",
)  # fmt: skip
_SENTENCES = (
    "Point to the {c} {o}.\nPlease say 'There are none.' if it is not in the image.",
    "Point to all the {o}s in the image.",
    "Count the {c} {o}s.",
    "How many {o}s are there?",
    "Is there a {c} {o} on the table?",
    "Describe this image.",
    "Describe the scene in detail.",
    "The image shows a {c} {o} next to a {c2} {o2} on a wooden table.",
    "A robot arm stands behind a table with a {c} {o}, a {c2} {o2} and other objects.",
    "There is a {c} {o} in the top left corner and a {c2} {o2} near the centre of the picture.",
    "There are none.",
    "This isn't in the image.",
    "Yes, there is a {c} {o} on the table.",
    "No, the {o} is not in the image.",
    "The camera looks down at the table from above; the light comes from the left.",
)


def _molmo2_points(rng: random.Random, label: str, count: int) -> str:
    """A Molmo2 point answer: ``<points alt=.. coords="1 ID X Y ...">label</points>``, X, Y on 0-1000."""
    groups = " ".join(f"{i + 1} {rng.randint(0, 999):03d} {rng.randint(0, 999):03d}" for i in range(count))
    return f'<points alt="{label}" coords="1 {groups}">{label}</points>'


def _molmo1_points(rng: random.Random, label: str, count: int) -> str:
    """A Molmo v1 point answer, x and y in percent with one decimal."""
    if count == 1:
        return f'<point x="{rng.uniform(0, 100):.1f}" y="{rng.uniform(0, 100):.1f}" alt="{label}">{label}</point>'
    coords = " ".join(
        f'x{i + 1}="{rng.uniform(0, 100):.1f}" y{i + 1}="{rng.uniform(0, 100):.1f}"' for i in range(count)
    )
    return f'<points {coords} alt="{label}">{label}</points>'


def default_corpus(num_lines: int = 3000, seed: int = 0) -> list[str]:
    """A small deterministic corpus for the tokenizer: prompts, captions, answers and point tags.

    It covers English words of table-top scenes, every digit (numbers are split one digit per token anyway),
    the Molmo2 point format (``coords="1 1 123 456"``), the Molmo v1 formats and counting answers, so the BPE
    merges learn the tag syntax (``<points``, ``alt="``, ``coords="``, ``</points>``) as few tokens.
    """
    rng = random.Random(seed)
    lines: list[str] = []
    for _ in range(num_lines):
        c, c2 = rng.choice(_COLOURS), rng.choice(_COLOURS)
        o, o2 = rng.choice(_OBJECTS), rng.choice(_OBJECTS)
        label = f"{c} {o}" if rng.random() < 0.7 else o
        kind = rng.random()
        if kind < 0.35:
            lines.append(rng.choice(_SENTENCES).format(c=c, o=o, c2=c2, o2=o2))
        elif kind < 0.65:
            lines.append(_molmo2_points(rng, label, rng.randint(1, 4)))
        elif kind < 0.75:
            lines.append(_molmo1_points(rng, label, rng.randint(1, 3)))
        elif kind < 0.9:
            n = rng.randint(1, 5)
            lines.append(f"Counting the {_molmo2_points(rng, label, n)} shows a total of {n}.")
        else:
            lines.append(f"{rng.randint(0, 10_000)} {rng.uniform(0, 1000):.1f} {rng.randint(0, 9)}")
    return lines


# -------------------------------------------------------------------------------------------- tokenizer


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 512, coordinate_tokens: bool = False) -> Any:
    """Train a byte-level BPE tokenizer and wrap it for transformers.

    Digits are isolated before the byte-level split, so every number is spelled one digit per token as Qwen's
    (and so Molmo2's) tokenizers do; merged numbers make coordinates much harder to learn.

    Args:
        corpus: training text, one sample per item.
        vocab_size: target vocabulary size including the three chat tokens (the ten image tokens come on top).
        coordinate_tokens: add :data:`COORDINATE_TOKENS` as ordinary tokens after the merges; added tokens are
            matched before the digit split (longest first), so ``"073"`` is one token and ``"1000"`` another.

    Returns:
        A ``transformers.PreTrainedTokenizerFast`` whose ids are: chat tokens ``0..2``, byte symbols and merges,
        the coordinate tokens (when asked for), then the ten image/video tokens as the last ids.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(TEXT_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodable, whatever the corpus
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    if coordinate_tokens:
        tok.add_tokens([AddedToken(t, normalized=False) for t in COORDINATE_TOKENS])
    # Added after training, so they take the ids right after the text vocabulary.
    tok.add_special_tokens(list(IMAGE_SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        padding_side="left",  # batched generation appends on the right
        model_max_length=1 << 20,
    )


# ------------------------------------------------------------------------------------------------ build


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
        default_corpus() if corpus is None else corpus, sizes.tokenizer_vocab_size, sizes.coordinate_tokens
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
    """``python -m molmo_ros.models.tiny OUT_DIR [--seed N]``: write a tiny random checkpoint."""
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
