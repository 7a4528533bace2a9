"""Typed configs: YAML files, command-line overrides, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.config import TrainConfig, load_config, save_config


def test_committed_configs_load() -> None:
    stage1 = load_config("stage1_caption.yaml")
    stage2 = load_config("stage2_pointing.yaml")
    assert stage1.stage == "stage1" and stage2.stage == "stage2"
    assert stage2.model.init_from == "out/training/stage1/final"
    assert stage1.model.sizes.crop_size % stage1.model.sizes.patch_size == 0
    stage1.model.sizes.validate()


def test_polish_config_changes_stage2_and_keeps_the_rest() -> None:
    stage2, polish = load_config("stage2_pointing.yaml"), load_config("stage2_polish.yaml")
    assert polish.stage == "stage2" and polish.model.init_from == "out/training/stage2/final"
    assert polish.steps < stage2.steps and polish.optim.lr_llm < stage2.optim.lr_llm
    assert polish.data.style_weights == {**stage2.data.style_weights, "lookalike": 3.0}
    assert polish.model.sizes == stage2.model.sizes and polish.aux == stage2.aux


def test_place_pass_adds_the_place_scenes_to_the_second_pass() -> None:
    polish, place = load_config("stage2_polish.yaml"), load_config("stage2_place.yaml")
    assert place.model.init_from == "out/training/stage2_polish/final"
    assert place.out_dir != polish.out_dir and place.steps == polish.steps and place.optim == polish.optim
    assert place.data.more_train == ("out/training/data_place/mixture",) and not polish.data.more_train
    assert place.data.style_weights == polish.data.style_weights and place.aux == polish.aux


def test_base_files_merge_mappings_replace_the_rest_and_refuse_loops(tmp_path) -> None:
    (tmp_path / "a.yaml").write_text("steps: 10\noptim: {lr_vit: 0.5, lr_llm: 0.25}\ndata: {max_turns: 2}\n")
    (tmp_path / "b.yaml").write_text(f"base: {tmp_path / 'a.yaml'}\noptim: {{lr_llm: 0.125}}\nsteps: 3\n")
    cfg = load_config(tmp_path / "b.yaml", [("lr_vit", "0.75")])
    assert cfg.steps == 3 and cfg.data.max_turns == 2
    assert (cfg.optim.lr_vit, cfg.optim.lr_llm) == (0.75, 0.125)
    (tmp_path / "a.yaml").write_text(f"base: {tmp_path / 'b.yaml'}\n")
    with pytest.raises(ValueError, match="config base loop"):
        load_config(tmp_path / "b.yaml")
    with pytest.raises(FileNotFoundError, match="no config file"):
        load_config(tmp_path / "missing.yaml")


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


def _lrs(start_step: int, steps: int) -> list[list[float]]:
    """The learning rates of two groups (peaks 1.0 and 0.5) for steps start_step .. start_step + steps - 1."""
    import torch

    from training.model import learning_rate_schedule

    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    groups = [
        {"params": [params[0]], "lr": 1.0, "peak_lr": 1.0},
        {"params": [params[1]], "lr": 0.5, "peak_lr": 0.5},
    ]
    optimizer = torch.optim.SGD(groups, lr=1.0)
    schedule = learning_rate_schedule(optimizer, 10, 100, 0.1, start_step)
    out = []
    for _ in range(steps):
        out.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        schedule.step()
    return out


def test_schedule_warms_up_then_decays_per_group_and_resumes_where_it_was() -> None:
    run = _lrs(0, 100)
    assert run[0] == pytest.approx([0.1, 0.05])  # the first step already trains
    assert run[9] == pytest.approx([1.0, 0.5])
    assert run[54][0] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 45 / 90)))
    assert run[99][0] == pytest.approx(0.1, abs=1e-3)
    assert all(
        b <= a + 1e-12 for a, b in zip([r[0] for r in run[9:]], [r[0] for r in run[10:]], strict=False)
    )
    # A schedule made for a resumed run at step 40 continues the same curve.
    assert np.allclose(_lrs(40, 5), run[40:45])
    assert TrainConfig().optim.min_lr_ratio < 1
