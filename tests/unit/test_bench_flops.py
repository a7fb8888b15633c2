"""FLOP counts behind the benchmark's '% of FLOP limit' column."""
from __future__ import annotations

import pytest

from rerank_bundle.bench.workloads import flops_per_pair, total_flops

MINILM = {"hidden": 384, "layers": 6, "intermediate": 1536}


def test_full_pass_counts_projections_ffn_and_attention():
    h, i, n = 384, 1536, 100
    per_layer = 2 * n * (4 * h * h + 2 * h * i) + 4 * n * n * h
    assert flops_per_pair(tokens=n, **MINILM) == 6 * per_layer


def test_first_token_last_layer_keeps_keys_and_values_for_every_token():
    h, i, n = 384, 1536, 100
    full_layer = 2 * n * (4 * h * h + 2 * h * i) + 4 * n * n * h
    last = 2 * n * 2 * h * h + 2 * (2 * h * h + 2 * h * i) + 4 * n * h
    got = flops_per_pair(tokens=n, **MINILM, first_token_last_layer=True)
    assert got == 5 * full_layer + last
    # About a seventh of a 6-layer MiniLM pass is skipped at these lengths.
    for tokens in (115, 512):
        saved = 1 - flops_per_pair(tokens=tokens, **MINILM, first_token_last_layer=True) / flops_per_pair(tokens=tokens, **MINILM)
        assert saved == pytest.approx(0.14, abs=0.01)


def test_total_is_the_sum_over_pairs():
    counts = [10, 50, 200]
    assert total_flops(counts, **MINILM) == sum(flops_per_pair(tokens=t, **MINILM) for t in counts)
