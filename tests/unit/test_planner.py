"""plan_batch: the padded-token budget, the oldest item first, max_batch_size."""
from __future__ import annotations

import random

import pytest

from rerank_bundle.batching.planner import PlanItem, padded_length, plan_batch


def items(lengths: list[int]) -> list[PlanItem]:
    return [PlanItem(key=i, length=n, arrival=i) for i, n in enumerate(lengths)]


def padded_size(batch: list[PlanItem], multiple: int = 1) -> int:
    return len(batch) * padded_length(max(it.length for it in batch), multiple)


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("multiple", [1, 8])
def test_budget_oldest_and_batch_size_hold_on_random_queues(seed, multiple):
    rng = random.Random(seed)
    waiting = [PlanItem(key=i, length=rng.randint(1, 300), arrival=rng.randint(0, 10_000)) for i in range(rng.randint(1, 80))]
    max_tokens, max_batch = rng.choice([256, 512, 2048]), rng.choice([1, 4, 32])
    batch = plan_batch(waiting, max_tokens=max_tokens, max_batch_size=max_batch, pad_multiple=multiple)
    oldest = min(waiting, key=lambda it: it.arrival)
    assert oldest in batch
    assert 1 <= len(batch) <= max_batch
    assert len(set(map(id, batch))) == len(batch) and all(it in waiting for it in batch)
    if len(batch) > 1:
        assert padded_size(batch, multiple) <= max_tokens


def test_draining_a_queue_takes_every_item_exactly_once():
    rng = random.Random(7)
    waiting = items([rng.randint(1, 120) for _ in range(200)])
    taken = []
    while waiting:
        batch = plan_batch(waiting, max_tokens=512, max_batch_size=16)
        assert batch[0].length <= batch[-1].length  # returned sorted by length
        taken += batch
        waiting = [it for it in waiting if it not in batch]
    assert sorted(it.key for it in taken) == list(range(200))


def test_an_item_longer_than_the_budget_still_runs_alone():
    batch = plan_batch(items([900, 10, 10]), max_tokens=512, max_batch_size=8)
    assert [it.length for it in batch] == [900]


def test_fills_the_budget_with_similar_lengths():
    batch = plan_batch(items([100, 10, 100, 101, 12]), max_tokens=303, max_batch_size=8)
    assert sorted(it.length for it in batch) == [100, 100, 101]  # not the short ones padded to 101


def test_max_batch_size_caps_short_items():
    assert len(plan_batch(items([3] * 50), max_tokens=10_000, max_batch_size=4)) == 4


def test_padding_multiple_counts_against_the_budget():
    # 4 items of length 9 pad to 16 each: 64 tokens, so a 60-token budget takes only 3.
    assert len(plan_batch(items([9] * 4), max_tokens=60, max_batch_size=8, pad_multiple=16)) == 3
    assert padded_length(9, 8) == 16 and padded_length(16, 8) == 16 and padded_length(9, 1) == 9


def test_empty_queue_plans_nothing():
    assert plan_batch([], max_tokens=100, max_batch_size=4) == []
