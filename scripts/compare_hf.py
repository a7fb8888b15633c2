#!/usr/bin/env python3
"""Fidelity report: HF transformers fp32 vs every available engine; same as `rerank-bundle compare`.

    python scripts/compare_hf.py MODEL [--engines openvino:int8,onnxruntime:fp32] [--groups N] [--json OUT]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rerank_bundle.compile.commands import script_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(script_main("compare"))
