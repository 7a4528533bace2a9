"""Stage 1: dense-caption pretraining of a new Molmo2 (the PixMo-Cap role).

python -m training.stage1_caption [--config training/configs/stage1_caption.yaml] [--set key=value] [--debug]
torchrun --nproc_per_node N -m training.stage1_caption ...
"""

from __future__ import annotations

import sys

from training.train_loop import cli_main

if __name__ == "__main__":
    raise SystemExit(cli_main("stage1_caption.yaml", sys.argv[1:]))
