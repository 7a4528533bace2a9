"""Stage 2: fine-tune on the pointing mixture, starting from the stage-1 checkpoint.

python -m training.stage2_pointing [--config training/configs/stage2_pointing.yaml] [--set key=value] [--debug]
torchrun --nproc_per_node N -m training.stage2_pointing ...
"""

from __future__ import annotations

import sys

from training.train_loop import cli_main

if __name__ == "__main__":
    raise SystemExit(cli_main("stage2_pointing.yaml", sys.argv[1:]))
