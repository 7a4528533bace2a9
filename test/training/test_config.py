"""Typed configs: YAML files, command-line overrides, errors."""

from __future__ import annotations

import pytest

from training.config import TrainConfig, load_config, save_config
from training.train_loop import lr_factor


def test_committed_configs_load() -> None:
    stage1 = load_config("stage1_caption.yaml")
    stage2 = load_config("stage2_pointing.yaml")
    assert stage1.stage == "stage1" and stage2.stage == "stage2"
    assert stage2.model.init_from == "out/training/stage1/final"
    assert stage1.model.sizes.crop_size % stage1.model.sizes.patch_size == 0
    stage1.model.sizes.validate()


def test_overrides_by_path_and_by_name(tmp_path) -> None:
    cfg = load_config(
        "stage2_pointing.yaml", [("optim.lr_vit", "3e-4"), ("batch_size", "4"), ("debug", "true")]
    )
    assert cfg.optim.lr_vit == pytest.approx(3e-4)
    assert cfg.data.batch_size == 4 and cfg.debug is True
    cfg = load_config(None, [("model.sizes", "{text_layers: 3, image_pooling: [1, 1]}")])
    assert cfg.model.sizes.text_layers == 3 and cfg.model.sizes.image_pooling == (1, 1)
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg


def test_bad_overrides_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown config field"):
        load_config(None, [("no_such_field", "1")])
    with pytest.raises(ValueError, match="expected int"):
        load_config(None, [("steps", "many")])
    with pytest.raises(ValueError, match="unknown field"):
        load_config(None, [("model", "{colour: red}")])


def test_schedule_warms_up_then_decays() -> None:
    assert lr_factor(0, 100, 10, 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, 0.1) == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, 0.1) == pytest.approx(0.55)
    assert lr_factor(100, 100, 10, 0.1) == pytest.approx(0.1)
    assert TrainConfig().optim.min_lr_ratio < 1
