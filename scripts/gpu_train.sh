#!/usr/bin/env bash
# Device check for issue 12 (run by a session that has the GPU; one command, < 10 minutes):
# trains beallor-srresnet on the BraTS train split for as long as fits, scores it against bicubic on
# the BraTS test split and copies curves + metrics (not the checkpoint) to $OUT/training/.
# Usage (from the repo root on the GPU machine):  bash scripts/gpu_train.sh [MAX_ITERS]
set -euo pipefail
ITERS=${1:-20000}
OUT=${OUT:-results/training/gpu}
DATA=${BENCH_DATA_ROOT:-../shared/data}
export BENCH_WEIGHTS=${BENCH_WEIGHTS:-/tmp/gpu-weights}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/device.txt" || true
# throughput side by side (fp32 vs bf16 autocast vs channels_last)
timeout 90 bench train --recipe beallor-srresnet --dataset brats2018 --data-root "$DATA" \
  --device cuda --set batch_size=16 --set gt_size=96 --throughput 50 | tee "$OUT/throughput.txt" || true
# training: stops at ITERS or after ~6 minutes, whichever comes first (resumable checkpoint every 500)
timeout 360 bench train --recipe beallor-srresnet --dataset brats2018 --data-root "$DATA" \
  --device cuda --amp bf16 --max-iters "$ITERS" --set batch_size=16 --set gt_size=96 \
  --set val_every=1000 --set val_count=32 --set checkpoint_every=500 --out /tmp/gpu-run -q \
  | tee "$OUT/train.txt" || true
if [ ! -f /tmp/gpu-run/model.pth ]; then  # the time limit hit first: export the last checkpoint
  DONE=$(python -c "import torch; print(torch.load('/tmp/gpu-run/checkpoints/last.pt', weights_only=True)['iteration'])")
  bench train --recipe beallor-srresnet --dataset brats2018 --data-root "$DATA" --device cuda \
    --amp bf16 --max-iters "$DONE" --set batch_size=16 --set gt_size=96 --set val_every=1000 \
    --set val_count=32 --set checkpoint_every=500 --out /tmp/gpu-run --resume -q | tee -a "$OUT/train.txt"
fi
cp /tmp/gpu-run/log.csv /tmp/gpu-run/record.json /tmp/gpu-run/recipe.json "$OUT/"
bench run --suite rashid --models bicubic,srresnet-brats2018 --data-root "$DATA" --device cuda \
  --out /tmp/gpu-eval -q
cp /tmp/gpu-eval/summary.csv "$OUT/summary.csv"
grep -E "psnr|ssim" "$OUT/summary.csv"
