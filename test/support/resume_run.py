"""A small training run to interrupt and resume (test/training/test_resume.py); also run under torchrun:
``python -m torch.distributed.run --standalone --nproc_per_node 2 test/support/resume_run.py OUT DATA PARALLEL``."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from training.config import TrainConfig, load_config  # noqa: E402
from training.debug import debug_config  # noqa: E402
from training.train_loop import train  # noqa: E402

STEPS = 6
SAVE_EVERY = 3


def resume_config(
    out_dir: Path, data: str, parallel: str = "ddp", steps: int = STEPS, save_every: int = SAVE_EVERY
) -> TrainConfig:
    """The --debug model and data, but a normal run (a debug run always starts afresh): 6 steps, a resumable
    checkpoint every 3."""
    cfg = debug_config(
        load_config("stage2_pointing.yaml", [("out_dir", str(out_dir)), ("init_from", ""), ("threads", "1")])
    )
    return replace(
        cfg,
        out_dir=str(out_dir),
        debug=False,
        steps=steps,
        save_every=save_every,
        keep_checkpoints=steps,
        parallel=parallel,
        data=replace(cfg.data, train=data),
    )


if __name__ == "__main__":
    out, data, parallel, *rest = sys.argv[1:]
    train(resume_config(Path(out), data, parallel, *map(int, rest)))
