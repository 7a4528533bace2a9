"""The sizes of a saved checkpoint read back from its files, and what a run that loads one records."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from support.tiny_processor import CORPUS
from training.config import ModelConfig, TrainConfig, save_config
from training.molmo2 import Molmo2Sizes, build_molmo2_checkpoint
from training.molmo2.read_sizes import checkpoint_sizes, start_sizes

# Away from the defaults in every field the files hold (and a valid model).
ODD = replace(
    Molmo2Sizes.tiny(),
    text_hidden_size=48,
    text_layers=3,
    text_heads=6,
    text_kv_heads=3,
    text_head_dim=8,
    text_intermediate_size=96,
    additional_vocab_size=20,
    max_position_embeddings=2048,
    rope_theta=10_000.0,
    vision_hidden_size=24,
    vision_layers=3,
    vision_heads=3,
    vision_head_dim=8,
    vision_intermediate_size=40,
    vision_feature_layers=(-1, -3),
    patch_size=7,
    crop_size=84,
    adapter_intermediate_size=72,
    max_crops=2,
    overlap_margins=(1, 1),
    image_pooling=(3, 3),
    video_pooling=(2, 2),
    video_num_frames=4,
    video_max_fps=1.0,
    tokenizer_vocab_size=400,
    coordinate_tokens=True,
    answer_tag_tokens=True,
    question_first=True,
)


def _built(folder: Path, sizes: Molmo2Sizes) -> Path:
    build_molmo2_checkpoint(folder, sizes=sizes, corpus=CORPUS, seed=0)
    return folder


@pytest.mark.parametrize(
    "sizes",
    [ODD, replace(Molmo2Sizes.tiny(), tokenizer_vocab_size=400), replace(ODD, text_vocab_size=1400)],
    ids=["odd", "tiny", "explicit-vocab"],
)
def test_the_sizes_read_back_are_the_sizes_built(tmp_path: Path, sizes: Molmo2Sizes) -> None:
    folder = _built(tmp_path / "model", sizes)
    # tokenizer_vocab_size (the BPE target) is not in the files: it comes from the base given.
    assert checkpoint_sizes(folder, Molmo2Sizes()) == replace(sizes, tokenizer_vocab_size=512)
    assert checkpoint_sizes(folder, replace(Molmo2Sizes(), tokenizer_vocab_size=400)) == sizes


def test_a_run_from_a_checkpoint_takes_its_sizes_and_reports_those_it_cannot_apply(tmp_path: Path) -> None:
    folder = _built(tmp_path / "model", ODD)
    save_config(TrainConfig(model=ModelConfig(sizes=ODD)), folder / "train_config.yaml")
    # Defaults ask for nothing: no warning, and the BPE target comes from the config saved beside the model.
    loaded, ignored = start_sizes(folder, Molmo2Sizes())
    assert (loaded, ignored) == (ODD, {})
    with pytest.warns(UserWarning, match="crop_size"):
        loaded, ignored = start_sizes(folder, replace(Molmo2Sizes(), crop_size=224, text_layers=3))
    assert loaded == ODD
    assert ignored == {"crop_size": [224, 84]}  # text_layers 3 is what the model has
