#!/usr/bin/env python3
"""Compile a checkpoint into an engine artifact; same as `rerank-bundle build`.

    python scripts/build_engine.py MODEL --target openvino|onnxruntime|tensorrt \
        --precision fp32|fp16|bf16|int8|fp8 [--out DIR] [--calibration FILE] [--force]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rerank_bundle.compile.commands import script_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(script_main("build"))
