"""The Molmo2 checkpoint builder: tokenizer, configuration, processor, save and reload."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, AutoProcessor

from training.molmo2 import (
    BOS_TOKEN,
    EOS_TOKEN,
    IMAGE_SPECIAL_TOKENS,
    Molmo2Sizes,
    build_molmo2_checkpoint,
    build_tokenizer,
    default_corpus,
    tiny_checkpoint,
)


@pytest.fixture(scope="module")
def reloaded(tiny_ckpt: Path) -> tuple[object, object]:
    processor = AutoProcessor.from_pretrained(tiny_ckpt)
    model = AutoModelForImageTextToText.from_pretrained(tiny_ckpt)
    return processor, model


def test_checkpoint_reloads_through_the_auto_classes(reloaded: tuple[object, object]) -> None:
    processor, model = reloaded
    assert type(processor).__name__ == "Molmo2Processor"
    assert type(model).__name__ == "Molmo2ForConditionalGeneration"
    assert type(processor.video_processor).__name__ == "Molmo2VideoProcessor"
    assert processor.image_processor.overlap_margins == [2, 2]
    assert processor.image_processor.size["height"] == 112
    assert sum(p.numel() for p in model.parameters()) < 1_000_000


def test_config_token_ids_point_at_the_special_tokens(reloaded: tuple[object, object]) -> None:
    processor, model = reloaded
    tok, cfg = processor.tokenizer, model.config
    assert cfg.image_patch_id == tok.convert_tokens_to_ids("<im_patch>")
    assert cfg.image_start_token_id == tok.convert_tokens_to_ids("<im_start>")
    assert cfg.low_res_image_start_token_id == tok.convert_tokens_to_ids("<low_res_im_start>")
    assert cfg.image_end_token_id == tok.convert_tokens_to_ids("<im_end>")
    assert cfg.frame_start_token_id == tok.convert_tokens_to_ids("<frame_start>")
    assert cfg.frame_end_token_id == tok.convert_tokens_to_ids("<frame_end>")
    # The image tokens sit beyond the LM head (the additional vocabulary): the model can never emit them.
    vocab = cfg.text_config.vocab_size
    assert model.lm_head.out_features == vocab
    assert all(vocab <= tok.convert_tokens_to_ids(t) < vocab + cfg.text_config.additional_vocab_size
               for t in IMAGE_SPECIAL_TOKENS)  # fmt: skip
    assert tok.convert_tokens_to_ids(EOS_TOKEN) < vocab
    assert model.generation_config.eos_token_id[0] == tok.convert_tokens_to_ids(EOS_TOKEN)
    assert tok.bos_token == BOS_TOKEN


def test_special_tokens_are_single_tokens_and_digits_are_split(reloaded: tuple[object, object]) -> None:
    processor, _ = reloaded
    tok = processor.tokenizer
    for token in (*IMAGE_SPECIAL_TOKENS, "<|im_start|>", EOS_TOKEN):
        assert tok.tokenize(token) == [token]
    answer = '<points alt="red cup" coords="1 1 073 160 2 173 600">red cup</points>'
    pieces = tok.tokenize(answer)
    digit_pieces = [p for p in pieces if any(c.isdigit() for c in p)]
    assert digit_pieces and all(len(p) == 1 for p in digit_pieces)  # one digit per token, never merged
    assert "".join(c for p in digit_pieces for c in p) == "11073160217360" + "0"
    assert tok.decode(tok(answer, add_special_tokens=False)["input_ids"]) == answer


def test_chat_template_matches_the_molmo2_prompt_layout(reloaded: tuple[object, object]) -> None:
    processor, _ = reloaded
    image = Image.new("RGB", (64, 48))
    messages = [
        {"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "Hi."}]}
    ]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == "<|image|><|im_start|>user\nHi.<|im_end|>\n<|im_start|>assistant\n"
    two = [{"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "A"}]},
           {"role": "assistant", "content": "B"}]  # fmt: skip
    assert processor.apply_chat_template(two, tokenize=False) == (
        "Image 1<|image|>Image 2<|image|><|im_start|>user\nA<|im_end|>\n<|im_start|>assistant\nB<|im_end|>\n"
    )


def test_processor_expands_the_image_and_the_model_consumes_it(reloaded: tuple[object, object]) -> None:
    processor, model = reloaded
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
    messages = [
        {"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "Hi."}]}
    ]
    inputs = processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    ids = inputs["input_ids"][0]
    assert ids[0] == processor.tokenizer.convert_tokens_to_ids(BOS_TOKEN)  # the processor prepends BOS
    n_patch_tokens = int((ids == model.config.image_patch_id).sum())
    grid = inputs["image_grids"][0].tolist()
    assert n_patch_tokens == grid[0] * grid[1] + grid[2] * grid[3]
    assert int(inputs["image_num_crops"][0]) > 2  # 640x480 is tiled into several crops plus the global view
    with torch.inference_mode():
        logits = model(**inputs).logits
    assert logits.shape == (1, ids.shape[0], model.config.text_config.vocab_size)
    assert torch.isfinite(logits).all()


def test_embedding_tables_are_stored_split_at_the_vocabulary(tiny_ckpt: Path, reloaded: tuple) -> None:
    _, model = reloaded
    tensors = load_file(tiny_ckpt / "model.safetensors")
    cfg = model.config.text_config
    base = tensors["model.transformer.wte.embedding"]
    extra = tensors["model.transformer.wte.new_embedding"]
    assert base.shape == (cfg.vocab_size, cfg.hidden_size)
    assert extra.shape == (cfg.additional_vocab_size, cfg.hidden_size)
    # ...and transformers reads them back as the one table the model was built with.
    torch.testing.assert_close(model.model.language_model.embed_tokens.weight, torch.cat([base, extra]))


def test_same_seed_same_weights_other_seed_other_weights(tmp_path: Path) -> None:
    sizes = Molmo2Sizes(text_layers=1, vision_layers=1)
    build_molmo2_checkpoint(tmp_path / "a", sizes=sizes, seed=3)
    build_molmo2_checkpoint(tmp_path / "b", sizes=sizes, seed=3)
    build_molmo2_checkpoint(tmp_path / "c", sizes=sizes, seed=4)
    a, b, c = (load_file(tmp_path / n / "model.safetensors") for n in "abc")
    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    info = json.loads((tmp_path / "a" / "molmo_ros_build.json").read_text())
    assert info["seed"] == 3 and info["sizes"]["text_layers"] == 1


def test_tokenizer_learns_from_the_given_corpus() -> None:
    corpus = ["the zanzibar gizmo sits on the table"] * 200 + default_corpus(200)
    custom = build_tokenizer(corpus, vocab_size=400)
    default = build_tokenizer(default_corpus(400), vocab_size=400)
    assert len(custom.tokenize(" zanzibar")) == 1
    assert len(default.tokenize(" zanzibar")) > 1
    # Any byte stays encodable whatever the corpus held.
    text = "ünïcödé ✓ 42"
    assert custom.decode(custom(text, add_special_tokens=False)["input_ids"]) == text


def test_sizes_that_cannot_work_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="overlap margins"):
        Molmo2Sizes(crop_size=56, overlap_margins=(2, 2)).validate()
    with pytest.raises(ValueError, match="multiple of patch_size"):
        Molmo2Sizes(crop_size=100).validate()
    with pytest.raises(ValueError, match="additional_vocab_size"):
        Molmo2Sizes(additional_vocab_size=4).validate()
    with pytest.raises(ValueError, match="feature layer"):
        Molmo2Sizes(vision_feature_layers=(5,)).validate()
    with pytest.raises(ValueError, match="answer_tokens or answer_tag_tokens"):
        Molmo2Sizes(coordinate_tokens=True, answer_tokens=True, answer_tag_tokens=True).validate()
    Molmo2Sizes.molmo2_8b().validate()


def test_molmo2_8b_sizes_give_an_8b_model_without_allocating_it(tmp_path: Path) -> None:
    info = build_molmo2_checkpoint(tmp_path / "never-written", sizes=Molmo2Sizes.molmo2_8b(), save=False)
    # Qwen3-8B (8.2 B with its untied head) + SigLIP so400m (25 layers, 0.4 B) + adapter: about 8.7 B.
    assert 8.3e9 < info.num_parameters < 9.2e9
    assert not (tmp_path / "never-written").exists()


def test_tiny_checkpoint_is_built_once_and_reused(tmp_path: Path) -> None:
    first = tiny_checkpoint(tmp_path)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    second = tiny_checkpoint(tmp_path)
    assert first == second and (second / "model.safetensors").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no staging directory left behind
