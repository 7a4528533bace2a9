"""Each stage's --debug run trains end to end and lowers its loss; its export loads through the node's backend."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from training.config import load_config
from training.debug import debug_config
from training.train_loop import train

pytestmark = pytest.mark.slow


def _losses(out: Path) -> list[float]:
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if r.get("event") == "train"]


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    cfg = debug_config(
        load_config("stage1_caption.yaml", [("out_dir", str(root / "stage1")), ("threads", "1")])
    )
    return cfg, train(cfg)


def test_stage1_debug_lowers_the_loss(stage1) -> None:
    cfg, summary = stage1
    losses = _losses(Path(cfg.out_dir))
    assert len(losses) >= 3
    assert losses[-1] < 0.8 * losses[0], losses
    assert (Path(summary["final"]) / "train_config.yaml").is_file()
    # The recipe's picture store is on; a debug run keeps its own, beside its checkpoints.
    store = Path(cfg.data.picture_store)
    assert store.parent == Path(cfg.out_dir)
    assert list(store.glob("*/picture/*/*.pt")) and list(store.glob("*/fractions/*/*.pt"))


def test_the_recipe_trains_under_bf16_autocast_and_fp32_follows_the_same_path(stage1) -> None:
    """The committed configs run the training passes in bfloat16: the same debug run in fp32 starts from the
    same loss, ends within 10 % of it, and is not the same run (the autocast did take effect)."""
    cfg, _ = stage1
    assert cfg.precision == "bf16"
    fp32 = replace(cfg, precision="fp32", out_dir=str(Path(cfg.out_dir).parent / "stage1_fp32"))
    train(fp32)
    bf16_losses, fp32_losses = _losses(Path(cfg.out_dir)), _losses(Path(fp32.out_dir))
    assert len(bf16_losses) == len(fp32_losses)
    assert bf16_losses[0] == pytest.approx(fp32_losses[0], rel=0.02)
    assert bf16_losses[-1] == pytest.approx(fp32_losses[-1], rel=0.10)
    assert bf16_losses != fp32_losses
    assert fp32_losses[-1] < 0.8 * fp32_losses[0], fp32_losses


def test_an_unknown_precision_is_refused_before_anything_is_written(tmp_path) -> None:
    cfg = debug_config(
        load_config("stage2_pointing.yaml", [("out_dir", str(tmp_path / "s2")), ("init_from", "")])
    )
    with pytest.raises(ValueError, match=r"precision must be one of \('fp32', 'bf16'\), got 'fp16'"):
        train(replace(cfg, precision="fp16"))
    assert not any(tmp_path.iterdir())


@pytest.fixture(scope="module")
def stage2(stage1):
    s1_cfg, s1_summary = stage1
    out = Path(s1_cfg.out_dir).parent / "stage2"
    cfg = debug_config(
        load_config(
            "stage2_pointing.yaml",
            [("out_dir", str(out)), ("init_from", s1_summary["final"]), ("threads", "1")],
        )
    )
    return cfg, train(cfg)


def test_stage2_debug_starts_from_stage1_and_loads_in_the_backend(stage1, stage2) -> None:
    from molmo_ros.models import load_point_model
    from molmo_ros.pointing import point_prompt

    _, s1_summary = stage1
    cfg, summary = stage2
    losses = _losses(Path(cfg.out_dir))
    assert losses[-1] < 0.8 * losses[0], losses
    log = [json.loads(line) for line in (Path(cfg.out_dir) / "log.jsonl").read_text().splitlines()]
    assert log[0]["init_from"] == s1_summary["final"]
    model = load_point_model("transformers", summary["final"], device="cpu", max_new_tokens=24)
    answer = model.generate(np.zeros((120, 160, 3), dtype=np.uint8), point_prompt("red cup"))
    assert isinstance(answer.text, str)
    model.close()


def test_later_passes_start_from_the_last_and_the_export_carries_every_run(stage1, stage2) -> None:
    import yaml

    from training.export import export

    s1_cfg, _ = stage1
    s2_cfg, s2_summary = stage2
    root = Path(s1_cfg.out_dir).parent
    polish = debug_config(
        load_config(
            "stage2_polish.yaml",
            [("out_dir", str(root / "polish")), ("init_from", s2_summary["final"]), ("threads", "1")],
        )
    )
    polish_summary = train(polish)
    log = [json.loads(line) for line in (Path(polish.out_dir) / "log.jsonl").read_text().splitlines()]
    assert log[0]["init_from"] == s2_summary["final"]
    place = debug_config(
        load_config(
            "stage2_place.yaml",
            [("out_dir", str(root / "place")), ("init_from", polish_summary["final"]), ("threads", "1")],
        )
    )
    summary = train(place)
    out = root / "export"
    export(place.out_dir, out, stage1=s1_cfg.out_dir, stage2=[s2_cfg.out_dir, polish.out_dir])
    curves = sorted(p.name for p in (out / "training_curves").glob("*_log.jsonl"))
    assert curves == [
        "stage1_log.jsonl",
        "stage2_log.jsonl",
        "stage2_place_log.jsonl",
        "stage2_polish_log.jsonl",
    ]
    card = (out / "README.md").read_text()
    assert f"| 2: pointing mixture | {s2_summary['step']} |" in card
    assert f"| 2, second pass | {polish_summary['step']} |" in card
    assert f"| 2, third pass | {summary['step']} |" in card
    saved = yaml.safe_load((out / "train_config.yaml").read_text())
    assert saved["model"]["init_from"] == polish_summary["final"]
    assert saved["data"]["more_train"] == ["out/training/data_place/mixture"]
    # The sizes saved are the model's (stage 1 built it), not stage 2's defaults.
    assert load_config(out / "train_config.yaml").model.sizes == s1_cfg.model.sizes
    assert s1_cfg.model.sizes != polish.model.sizes


def test_an_export_of_more_passes_than_it_names_is_refused_and_writes_nothing(tmp_path) -> None:
    from training.export import STAGE2_PASSES, export

    earlier = [tmp_path / f"pass{i}" for i in range(len(STAGE2_PASSES))]
    with pytest.raises(ValueError, match="passes of stage 2 given"):
        export(tmp_path / "last", tmp_path / "export", stage2=earlier)
    assert not (tmp_path / "export").exists()


def test_stage2_debug_with_the_auxiliary_losses(tmp_path) -> None:
    cfg = debug_config(
        load_config(
            "stage2_pointing.yaml",
            [
                ("out_dir", str(tmp_path / "stage2_aux")),
                ("init_from", ""),
                ("threads", "1"),
                ("steps", "10"),
                ("aux.patch_weight", "1"),
                ("aux.token_weight", "1"),
                ("aux.attention_weight", "1"),
                ("aux.attention_layers", "[0, 1]"),
                ("aux.pointer_weight", "1"),
                ("aux.coord_weight", "1"),
                ("aux.position_weight", "1"),
            ],
        )
    )
    summary = train(cfg)
    records = [json.loads(line) for line in (Path(cfg.out_dir) / "log.jsonl").read_text().splitlines()]
    train_records = [r for r in records if r.get("event") == "train"]
    assert all("aux_patch" in r and "aux_token" in r for r in train_records), train_records
    assert all("aux_token_xy" in r for r in train_records), train_records
    assert any("aux_attention" in r for r in train_records), train_records
    # The heads are training-only: the export is a plain Molmo2 checkpoint.
    from transformers import Molmo2ForConditionalGeneration

    model = Molmo2ForConditionalGeneration.from_pretrained(summary["final"])
    assert not any("aux" in name for name, _ in model.named_parameters())


def test_guided_attention_on_a_layer_the_model_lacks_is_refused(tmp_path) -> None:
    cfg = debug_config(
        load_config(
            "stage2_pointing.yaml",
            [("out_dir", str(tmp_path / "stage2_bad")), ("init_from", ""), ("threads", "1")],
        )
    )
    cfg = replace(cfg, aux=replace(cfg.aux, attention_layers=(0, 7)))
    with pytest.raises(ValueError, match=r"attention_layers \[7\] outside the model's \d+ LM layers"):
        train(cfg)


def test_a_run_past_its_time_budget_ends_early_with_a_final_export(tmp_path) -> None:
    cfg = debug_config(
        load_config(
            "stage2_pointing.yaml",
            [("out_dir", str(tmp_path / "stage2_budget")), ("init_from", ""), ("threads", "1")],
        )
    )
    # A budget that every step overruns: the loop ends at the first log line (step 2 of 12).
    cfg = replace(cfg, steps=12, log_every=2, max_minutes=1e-6)
    summary = train(cfg)
    records = [json.loads(line) for line in (Path(cfg.out_dir) / "log.jsonl").read_text().splitlines()]
    budget = [r for r in records if r.get("event") == "time_budget"]
    assert [r["step"] for r in budget] == [2], records
    assert summary["step"] == 2
    assert (Path(summary["final"]) / "model.safetensors").is_file()
