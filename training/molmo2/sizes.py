"""Every size a Molmo2 checkpoint is built with (:class:`Molmo2Sizes`) and what a build made (:class:`BuildInfo`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from training.molmo2.chat_format import IMAGE_SPECIAL_TOKENS, TEXT_SPECIAL_TOKENS


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
    answer_tokens: bool = False
    """With ``coordinate_tokens``: coordinates and object ids keep their leading space and the point tag's fixed
    pieces are single tokens (:data:`ANSWER_TAG_TOKENS`), so answers take fewer decoding steps."""
    answer_tag_tokens: bool = False
    """With ``coordinate_tokens``: only the point tag's fixed pieces are single tokens (:data:`POINT_TAG_TOKENS`);
    coordinates, object ids and the spaces between them are spelled as without it. Not with ``answer_tokens``."""
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
        if self.answer_tokens and self.answer_tag_tokens:
            raise ValueError(
                "answer_tokens already holds the tag tokens: set answer_tokens or answer_tag_tokens"
            )
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
