#!/usr/bin/env bash
# The committed recipe on 2 CPU cores: stage 1 (captions), stage 2 (the pointing mixture), stage 2's second
# pass (configs/stage2_polish.yaml) and third pass (configs/stage2_place.yaml, the place scenes mixed in), each
# as two 1-thread processes (DDP over gloo) with 8 examples each a step:
# the configs' batch of 16 and thread count of 2 in all, 1.18 x the steps a minute of one 2-thread process in
# stage 2 (training/README.md, R14); the configs run the training passes under bfloat16 autocast (R26) and keep
# each processed picture on disk for the later passes (data.picture_store, R27). R28 (a ViT 160 wide, stage 2 3,300
# steps): 79 min 43 s from stage 1's start to the export on 7 Dec. Then the export with its held-out evaluation.
#
#   scripts/train_recipe.sh [OUT_DIR] [EXPORT_DIR]   # default out/training, out/training/export
#
# The data first: python -m training.data.build --seeds 0:1200 --out out/training/data --workers 2
#            and python -m training.data.build --layout place --seeds 1500:1700 --out out/training/data_place --workers 2
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${1:-out/training}
EXPORT=${2:-$OUT/export}
PY=${PYTHON:-.venv/bin/python}
DDP=(-m torch.distributed.run --standalone --nproc_per_node 2)
PER_PROCESS=(--set threads=1 --set data.batch_size=8)
export OMP_NUM_THREADS=1
"$PY" "${DDP[@]}" -m training.stage1_caption "${PER_PROCESS[@]}" --set "out_dir=$OUT/stage1"
"$PY" "${DDP[@]}" -m training.stage2_pointing "${PER_PROCESS[@]}" --set "out_dir=$OUT/stage2" \
    --set "model.init_from=$OUT/stage1/final"
"$PY" "${DDP[@]}" -m training.stage2_pointing --config stage2_polish.yaml "${PER_PROCESS[@]}" \
    --set "out_dir=$OUT/stage2_polish" --set "model.init_from=$OUT/stage2/final"
"$PY" "${DDP[@]}" -m training.stage2_pointing --config stage2_place.yaml "${PER_PROCESS[@]}" \
    --set "out_dir=$OUT/stage2_place" --set "model.init_from=$OUT/stage2_polish/final"
"$PY" -m training.export --run "$OUT/stage2_place" --stage2 "$OUT/stage2" "$OUT/stage2_polish" --stage1 "$OUT/stage1" \
    --out "$EXPORT" --eval-seeds 1000000:1000100
