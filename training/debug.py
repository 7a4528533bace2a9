"""``--debug``: every entry point's seconds-long CPU run (a tiny model, a few steps, a small rendered set)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from training.config import TrainConfig


def debug_config(cfg: TrainConfig) -> TrainConfig:
    """``--debug``: a tiny model, a few steps, a small rendered set; finishes in seconds on a CPU."""
    from training.molmo2 import Molmo2Sizes

    real = cfg.model.sizes
    sizes = replace(
        Molmo2Sizes.tiny(),
        max_crops=1,
        image_pooling=(2, 2),
        tokenizer_vocab_size=400,
        coordinate_tokens=real.coordinate_tokens,
        answer_tokens=real.answer_tokens,
        answer_tag_tokens=real.answer_tag_tokens,
        question_first=real.question_first,
    )
    init_from = cfg.model.init_from if cfg.model.init_from and Path(cfg.model.init_from).is_dir() else ""
    model = replace(cfg.model, sizes=sizes, tokenizer_corpus_rows=50, init_from=init_from)
    out_dir = cfg.out_dir.rstrip("/") + "_debug"
    store = str(Path(out_dir) / "picture_store") if cfg.data.picture_store else ""  # not the real run's
    data = replace(cfg.data, batch_size=4, max_turns=2, eval_fraction=0.25, picture_store=store)
    # The tiny model has fewer LM layers than the real one: guide the layers it has.
    guided = tuple(i for i in cfg.aux.attention_layers if i < sizes.text_layers) or (sizes.text_layers - 1,)
    aux = replace(cfg.aux, attention_layers=guided)
    optim = replace(cfg.optim, warmup_steps=3, lr_vit=3e-3, lr_connector=3e-3, lr_llm=3e-3)
    return replace(
        cfg,
        model=model,
        data=data,
        optim=optim,
        aux=aux,
        steps=min(cfg.steps, 30),
        log_every=5,
        eval_every=0,
        save_every=0,
        keep_checkpoints=1,
        debug=True,
        out_dir=out_dir,
    )


def debug_data(cfg: TrainConfig, out: Path) -> str:
    """A tiny synthetic set for ``--debug`` (2 scenes x 4 views), rendered once into ``out/debug_data``."""
    from training.data.build import CAPTION_DIR, MIXTURE_DIR, BuildConfig, build
    from training.data.scenes import RenderConfig

    root = out / "debug_data"
    name = CAPTION_DIR if cfg.stage == "stage1" else MIXTURE_DIR
    if not (root / name).is_dir():
        build(
            root,
            BuildConfig(seeds=(0, 2), render=RenderConfig(width=160, height=120, views_per_scene=4)),
            progress=False,
        )
    return str(root / name)
