"""The new model's initialisation keeps the image path well conditioned (training.model.apply_init)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from training.config import ModelConfig
from training.model import apply_init


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from transformers import AutoProcessor, Molmo2ForConditionalGeneration

    from training.molmo2 import tiny_checkpoint

    path = tiny_checkpoint(tmp_path_factory.mktemp("tiny"))
    processor = AutoProcessor.from_pretrained(path)

    def fresh():
        return Molmo2ForConditionalGeneration.from_pretrained(path, dtype=torch.float32)

    return fresh, processor


def _down_proj_std(model) -> float:
    return float(model.model.multi_modal_projector.image_projector.down_proj.weight.detach().std())


def test_fan_in_connector_needs_no_large_rescale(built) -> None:
    fresh, processor = built
    model = fresh()
    report = apply_init(model, processor, ModelConfig(connector_init="fan_in"))
    # Fan-in scale: the connector already returns features of a usable size before the rescale ...
    assert report["image_feature_rms_before"] > 0.02, report
    assert report["image_feature_rms_after"] == pytest.approx(0.5, rel=1e-3)
    # ... so its last matrix stays an ordinary matrix that the optimizer's steps can move.
    assert _down_proj_std(model) < 1.0


def test_as_built_connector_is_what_the_fan_in_init_fixes(built) -> None:
    fresh, processor = built
    model = fresh()
    report = apply_init(model, processor, ModelConfig(connector_init="as_built"))
    # The library's std 0.02 makes the SwiGLU projector output ~1e-5: only a huge rescale reaches the target.
    assert report["image_feature_rms_before"] < 1e-3, report
    assert _down_proj_std(model) > 10.0


def test_unknown_connector_init_is_refused(built) -> None:
    fresh, processor = built
    with pytest.raises(ValueError, match="connector_init"):
        apply_init(fresh(), processor, replace(ModelConfig(), connector_init="xavier"))


def test_qk_norm_gain_sharpens_every_language_layer_attention(built) -> None:
    fresh, processor = built
    plain, sharp = fresh(), fresh()
    apply_init(plain, processor, ModelConfig())
    apply_init(sharp, processor, replace(ModelConfig(), qk_norm_gain=2.0))
    for a, b in zip(plain.model.language_model.layers, sharp.model.language_model.layers, strict=True):
        assert torch.allclose(a.self_attn.q_norm.weight, torch.ones_like(a.self_attn.q_norm.weight))
        assert torch.allclose(b.self_attn.q_norm.weight, torch.full_like(b.self_attn.q_norm.weight, 2.0))
        assert torch.allclose(b.self_attn.k_norm.weight, torch.full_like(b.self_attn.k_norm.weight, 2.0))
    # Attention logits are q . k: both normalised vectors doubled, so the logits of a text prompt grow 4x.
    ids = processor.tokenizer("Point to the red cup.", return_tensors="pt").input_ids
    logits = {}
    for name, model in (("plain", plain), ("sharp", sharp)):
        attn = model.model.language_model.layers[0].self_attn
        seen = {}
        attn.q_norm.register_forward_hook(lambda m, i, o, seen=seen: seen.__setitem__("q", o))
        attn.k_norm.register_forward_hook(lambda m, i, o, seen=seen: seen.__setitem__("k", o))
        with torch.no_grad():
            model.model.language_model(input_ids=ids)
        logits[name] = (seen["q"][0, :, :1] * seen["k"][0, :, :1]).sum(-1)
    assert torch.allclose(logits["sharp"], 4 * logits["plain"], rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="qk_norm_gain"):
        apply_init(fresh(), processor, replace(ModelConfig(), qk_norm_gain=0.0))


def test_a_pretrained_text_model_is_refused_with_the_reason(tmp_path) -> None:
    from training.model import build_new_checkpoint

    config = replace(ModelConfig(), pretrained_text="Qwen/Qwen3-0.6B")
    with pytest.raises(ValueError, match="ids do not line up"):
        build_new_checkpoint(tmp_path / "new", config, ["some text"])
    assert not (tmp_path / "new").exists()  # refused before anything is built or downloaded


def test_coordinate_tokens_start_from_a_smooth_code(tmp_path) -> None:
    """Neighbouring coordinate values get neighbouring LM-head rows, far values far ones."""
    from transformers import AutoProcessor, Molmo2ForConditionalGeneration

    from training.coords import coordinate_token_ids
    from training.model import build_new_checkpoint
    from training.molmo2 import Molmo2Sizes

    sizes = replace(Molmo2Sizes.tiny(), max_crops=1, coordinate_tokens=True, tokenizer_vocab_size=400)
    config = replace(ModelConfig(), sizes=sizes, coordinate_code_frequencies=8)
    report = build_new_checkpoint(tmp_path / "new", config, ['coords="1 1 250 500"'])
    assert report["coordinate_tokens"] == 1001 and report["coordinate_code_channels"] == 17
    model = Molmo2ForConditionalGeneration.from_pretrained(tmp_path / "new", dtype=torch.float32)
    ids = coordinate_token_ids(AutoProcessor.from_pretrained(tmp_path / "new").tokenizer)
    rows = model.lm_head.weight[torch.tensor(ids)].detach()
    similarity = torch.nn.functional.cosine_similarity(rows[500:501], rows, dim=1)
    assert float(similarity[505]) > 0.9 > float(similarity[700]) and float(similarity[500]) > 0.999
