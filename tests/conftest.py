"""Shared fixtures. Tiny checkpoints are built once per session, on first use."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Under --engine auto, compiled CPU engines are built on first start and cached. The suite
# keeps that out of ~/.cache and off the start path of the servers it launches (they run
# torch as before); the engine tests opt back in with their own cache and RERANK_BUNDLE_BUILD=1.
os.environ.setdefault("RERANK_BUNDLE_CACHE", tempfile.mkdtemp(prefix="rerank-bundle-test-cache-"))
os.environ.setdefault("RERANK_BUNDLE_BUILD", "0")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """tiny_checkpoint(family, num_labels=1, embedder=False) -> local checkpoint dir (cached)."""
    from fixtures.tiny_models import build_checkpoint

    root = tmp_path_factory.mktemp("tiny-checkpoints")
    cache: dict[tuple[str, int, bool], Path] = {}

    def make(family: str, num_labels: int = 1, embedder: bool = False) -> Path:
        key = (family, num_labels, embedder)
        if key not in cache:
            name = f"{family}-{'embed' if embedder else f'{num_labels}label'}"
            cache[key] = build_checkpoint(root / name, family=family, num_labels=num_labels, embedder=embedder)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def catalog_path() -> Path:
    return ROOT / "config.yaml"
