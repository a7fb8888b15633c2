#!/usr/bin/env python3
"""Render model_template/ into models/<name>/ for every catalog entry.

    python scripts/generate_models.py           # write the bundles
    python scripts/generate_models.py --check   # exit 1 naming drifted, missing or extra files

Same as `rerank-bundle generate [--check]`; works from a checkout without installing.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rerank_bundle.bundles.generate import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
