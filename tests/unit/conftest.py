"""Unit tests run without torch: they must stay fast and prove the runtime's CPU parts
need no deep-learning stack. Each test fails if it is the one that imports torch; the
whole suite is also checked in a clean interpreter by test_no_torch.py."""
from __future__ import annotations

import sys

import pytest


@pytest.fixture(autouse=True)
def _torch_stays_unloaded():
    loaded_before = "torch" in sys.modules  # another test directory may have loaded it
    yield
    if not loaded_before and "torch" in sys.modules:
        pytest.fail("this unit test imported torch; unit tests must run without it (move it to tests/integration)")


@pytest.fixture(scope="session")
def bert_tokenizer():
    """A real fast tokenizer (WordPiece, [CLS] a [SEP] b [SEP] template), no torch needed."""
    from fixtures.tiny_models import build_tokenizer

    return build_tokenizer("bert")


@pytest.fixture(scope="session")
def roberta_tokenizer():
    """A real fast tokenizer with the RoBERTa template (<s> a </s></s> b </s>)."""
    from fixtures.tiny_models import build_tokenizer

    return build_tokenizer("roberta")
