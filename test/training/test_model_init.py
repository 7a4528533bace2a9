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

    from molmo_ros.models.tiny import tiny_checkpoint

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
