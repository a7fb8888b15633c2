"""Optimization-profile planning for compiled GPU engines (pure arithmetic, no torch)."""
from __future__ import annotations

import pytest

from rerank_bundle.engines.shape_profiles import (
    ShapeProfile,
    choose_profile,
    plan_profiles,
    profiles_from_json,
    profiles_to_json,
    split_batch,
)

LIMITS = [
    # (max_seq_len, max_num_tokens, max_batch_size)
    (512, 16384, 128),  # catalog defaults, BERT/XLM-R length
    (256, 16384, 128),  # MiniLM embedder length
    (8192, 32768, 128),  # bge-reranker-v2-m3
    (128, 16384, 128),  # tiny test checkpoints
    (512, 4096, 32),
    (510, 16384, 128),  # a length that is not a multiple of 8
    (1024, 2048, 256),  # budget smaller than batch x 8
]


def batcher_shapes(max_seq: int, budget: int, max_batch: int, multiple: int = 8):
    """Every (batch, padded seq) the token-budget batcher can emit, as it pads."""
    budget = max(budget, max_seq)
    for length in range(1, max_seq + 1):
        seq = min(-(-length // multiple) * multiple, max_seq)  # the engine trims past max_seq
        for batch in (1, 2, 7, max(1, min(max_batch, budget // seq))):
            if batch <= max_batch and batch * seq <= budget:
                yield batch, seq


@pytest.mark.parametrize("max_seq,budget,max_batch", LIMITS)
def test_every_batcher_shape_fits_one_profile_without_splitting(max_seq, budget, max_batch):
    profiles = plan_profiles(max_seq_len=max_seq, max_num_tokens=budget, max_batch_size=max_batch)
    for batch, seq in batcher_shapes(max_seq, budget, max_batch):
        index = choose_profile(profiles, batch, seq)
        assert index is not None, (batch, seq)
        assert profiles[index].covers(batch, seq), (batch, seq, profiles[index])


@pytest.mark.parametrize("max_seq,budget,max_batch", LIMITS)
def test_profiles_partition_the_sequence_axis(max_seq, budget, max_batch):
    profiles = plan_profiles(max_seq_len=max_seq, max_num_tokens=budget, max_batch_size=max_batch)
    assert profiles[0].min_seq == 1
    assert profiles[-1].max_seq == max_seq
    for before, after in zip(profiles, profiles[1:]):
        assert after.min_seq == before.max_seq + 1
    assert all(p.min_batch == 1 and p.max_batch <= max_batch for p in profiles)


def test_buckets_keep_each_box_near_the_budget():
    """One wide profile would be sized for 128 x 512 = 4x the budget; buckets stay under 2x."""
    profiles = plan_profiles(max_seq_len=512, max_num_tokens=16384, max_batch_size=128)
    assert len(profiles) == 3
    assert [(p.min_seq, p.max_seq) for p in profiles] == [(1, 128), (129, 256), (257, 512)]
    assert all(p.box_tokens <= 2 * 16384 for p in profiles)
    wide = ShapeProfile(1, 32, 128, 1, 512, 512)
    assert wide.box_tokens == 4 * 16384


def test_profile_count_is_capped_and_ratio_grows_instead():
    profiles = plan_profiles(max_seq_len=8192, max_num_tokens=32768, max_batch_size=128, max_profiles=4)
    assert len(profiles) == 4
    assert profiles[-1].max_seq == 8192
    assert all(p.max_seq % 8 == 0 for p in profiles)
    assert max(p.box_tokens for p in profiles) <= 3.2 * 32768


def test_short_limits_give_one_profile():
    profiles = plan_profiles(max_seq_len=128, max_num_tokens=16384, max_batch_size=128)
    assert profiles == (ShapeProfile(1, 128, 128, 1, 128, 128),)


def test_opt_shape_is_the_full_budget_batch_at_the_bucket_top():
    profiles = plan_profiles(max_seq_len=512, max_num_tokens=16384, max_batch_size=128)
    assert [(p.opt_batch, p.opt_seq) for p in profiles] == [(128, 128), (64, 256), (32, 512)]


def test_choose_prefers_the_tightest_box():
    profiles = (ShapeProfile(1, 8, 64, 1, 64, 512), ShapeProfile(1, 8, 16, 1, 64, 64))
    assert choose_profile(profiles, 8, 32) == 1
    assert choose_profile(profiles, 32, 32) == 0
    assert choose_profile(profiles, 8, 100) == 0


def test_choose_returns_the_length_bucket_when_the_batch_overflows_it():
    profiles = plan_profiles(max_seq_len=512, max_num_tokens=16384, max_batch_size=128)
    # A larger runtime budget than the build's: (100, 512) is outside every box.
    index = choose_profile(profiles, 100, 512)
    assert index == 2 and not profiles[index].covers(100, 512)
    chunks = split_batch(100, profiles[index].max_batch)
    assert chunks == [(0, 62), (62, 100)]
    assert choose_profile(profiles, 1, 600) is None


def test_split_batch_covers_all_rows_in_order():
    assert split_batch(5, 2) == [(0, 2), (2, 4), (4, 5)]
    assert split_batch(2, 8) == [(0, 2)]
    with pytest.raises(ValueError):
        split_batch(3, 0)


def test_profiles_round_trip_through_json():
    profiles = plan_profiles(max_seq_len=512, max_num_tokens=16384, max_batch_size=128)
    assert profiles_from_json(profiles_to_json(profiles)) == profiles


def test_invalid_profiles_and_limits_are_rejected():
    with pytest.raises(ValueError):
        ShapeProfile(1, 4, 2, 1, 8, 8)
    with pytest.raises(ValueError):
        plan_profiles(max_seq_len=0, max_num_tokens=16384, max_batch_size=128)
    with pytest.raises(ValueError):
        plan_profiles(max_seq_len=512, max_num_tokens=16384, max_batch_size=128, ratio=1.0)
