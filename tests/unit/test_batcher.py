"""TokenBudgetBatcher with a real (numpy) engine: ordering under concurrency, the token
budget, overload, cancellation, error isolation and shutdown."""
from __future__ import annotations

import asyncio
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fixtures.numpy_engine import NumpyEngine
from rerank_bundle.batching import TokenBudgetBatcher
from rerank_bundle.engines.base import EngineLimits
from rerank_bundle.errors import BackendError, OverloadedError, UnhealthyError
from rerank_bundle.tokenization import EncodedItem

pytestmark = pytest.mark.timeout(60)


def item(*ids: int) -> EncodedItem:
    return EncodedItem(input_ids=list(ids), token_type_ids=[0] * len(ids))


def request_items(request_id: int, rng: random.Random, count: int) -> list[EncodedItem]:
    """Items whose first id names (request, slot), of mixed lengths 1..40."""
    return [item(request_id * 1000 + slot, *([1] * rng.randint(0, 39))) for slot in range(count)]


def expected_rows(items: list[EncodedItem]) -> np.ndarray:
    return np.stack([NumpyEngine.expected(it.input_ids) for it in items])


@pytest.fixture
def make_batcher():
    made: list[TokenBudgetBatcher] = []

    def make(engine: NumpyEngine, **options) -> TokenBudgetBatcher:
        settings = dict(max_num_tokens=128, max_batch_size=8, max_queue_requests=64) | options
        batcher = TokenBudgetBatcher(engine, **settings)
        made.append(batcher)
        return batcher

    yield make
    for batcher in made:
        batcher.engine.gate.set()
        batcher.close(timeout=5)


def assert_batches_within_budget(engine: NumpyEngine, max_num_tokens: int, max_batch_size: int) -> None:
    for batch in engine.batches:
        rows, seq = batch.input_ids.shape
        assert rows * seq <= max_num_tokens or rows == 1
        assert rows <= max_batch_size
        assert seq == int(batch.attention_mask.sum(axis=1).max())  # padded to the longest item, no more


def test_threads_get_their_own_rows_in_order(make_batcher):
    engine = NumpyEngine()
    batcher = make_batcher(engine, max_num_tokens=128, max_batch_size=8)
    engine.gate.clear()  # hold the first batch so later requests queue up and get mixed
    rng = random.Random(0)
    requests = [request_items(r, rng, rng.randint(1, 12)) for r in range(24)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(lambda items=items: batcher.submit(items).result(timeout=30)) for items in requests]
        wait_for(lambda: batcher.queue_depth == 8)  # one request running, seven queued behind it
        engine.gate.set()
        results = [f.result() for f in futures]

    for items, out in zip(requests, results):
        np.testing.assert_array_equal(out.rows, expected_rows(items))
    assert_batches_within_budget(engine, 128, 8)
    assert batcher.queue_depth == 0


def test_one_batch_holds_items_of_several_callers(make_batcher):
    engine = NumpyEngine()
    batcher = make_batcher(engine)
    engine.gate.clear()
    blocker = batcher.submit([item(1)])
    engine.started.wait(5)
    first, second = batcher.submit([item(1001, 1, 1)]), batcher.submit([item(2001, 1), item(2002, 1, 1, 1)])
    engine.gate.set()
    assert blocker.result(timeout=10).rows[0, 0] == 1
    assert first.result(timeout=10).rows[0, 0] == 1003 and list(second.result(timeout=10).rows[:, 0]) == [2002, 2005]
    assert sorted(engine.batches[1].input_ids[:, 0].tolist()) == [1001, 2001, 2002]


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.005)


async def test_asyncio_callers_get_their_own_rows_in_order(make_batcher):
    engine = NumpyEngine(limits=EngineLimits(pad_to_multiple_of=8))
    batcher = make_batcher(engine, max_num_tokens=200, max_batch_size=16)
    rng = random.Random(1)
    requests = [request_items(r, rng, rng.randint(1, 20)) for r in range(40)]
    results = await asyncio.gather(*(batcher.run(items) for items in requests))
    for items, out in zip(requests, results):
        np.testing.assert_array_equal(out.rows, expected_rows(items))
    for batch in engine.batches:
        assert batch.input_ids.shape[1] % 8 == 0
        assert batch.padded_tokens <= 200 or batch.shape[0] == 1


def test_full_queue_rejects_at_once(make_batcher):
    engine = NumpyEngine()
    batcher = make_batcher(engine, max_queue_requests=3)
    engine.gate.clear()
    held = [batcher.submit([item(5, 6)]) for _ in range(3)]
    start = time.perf_counter()
    with pytest.raises(OverloadedError) as err:
        batcher.submit([item(7)])
    assert time.perf_counter() - start < 2.0  # rejected, not queued behind the held batch
    assert err.value.status == 429 and err.value.retry_after > 0
    engine.gate.set()
    assert all(f.result(timeout=10).rows.shape == (1, 1) for f in held)
    assert batcher.submit([item(7)]).result(timeout=10).rows[0, 0] == 7  # room again


async def test_cancelled_task_leaves_the_queue_and_never_runs(make_batcher):
    engine = NumpyEngine()
    batcher = make_batcher(engine, max_batch_size=1)
    engine.gate.clear()
    running = asyncio.ensure_future(batcher.run([item(11)]))
    await asyncio.to_thread(engine.started.wait, 5)  # the worker is inside forward with item 11
    doomed = asyncio.ensure_future(batcher.run([item(4242), item(4243)]))
    await asyncio.sleep(0.01)
    assert batcher.queue_depth == 2
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert batcher.queue_depth == 1
    engine.gate.set()
    assert (await running).rows[0, 0] == 11
    assert (await batcher.run([item(12)])).rows[0, 0] == 12
    assert not {4242, 4243} & engine.seen_ids()


def test_cancelled_future_leaves_the_queue(make_batcher):
    engine = NumpyEngine()
    batcher = make_batcher(engine, max_batch_size=1)
    engine.gate.clear()
    first = batcher.submit([item(1)])
    engine.started.wait(5)
    second = batcher.submit([item(777)])
    assert second.cancel()
    assert batcher.queue_depth == 1
    engine.gate.set()
    first.result(timeout=10)
    batcher.submit([item(2)]).result(timeout=10)
    assert 777 not in engine.seen_ids()


def test_engine_error_fails_exactly_that_batch(make_batcher):
    engine = NumpyEngine(poison_token=666)
    batcher = make_batcher(engine, max_batch_size=2)
    engine.gate.clear()
    blocker = batcher.submit([item(1)])
    engine.started.wait(5)
    # Arrival order fixes the batches: [poisoned, partner] then [bystander, later].
    poisoned = batcher.submit([item(666)])
    partner = batcher.submit([item(2)])
    bystander = batcher.submit([item(3), item(4)])
    engine.gate.set()
    assert blocker.result(timeout=10).rows[0, 0] == 1
    for future in (poisoned, partner):
        with pytest.raises(BackendError, match="poison token 666") as err:
            future.result(timeout=10)
        assert err.value.status == 424
    np.testing.assert_array_equal(bystander.result(timeout=10).rows[:, 0], [3, 4])
    assert batcher.submit([item(9)]).result(timeout=10).rows[0, 0] == 9  # the worker lives on
    assert batcher.queue_depth == 0


def test_wrong_row_count_from_engine_is_a_backend_error(make_batcher):
    class Dropping(NumpyEngine):
        def forward(self, inputs):
            return super().forward(inputs)[:-1]

    batcher = make_batcher(Dropping())
    with pytest.raises(BackendError, match="returned 1 rows for a batch of 2"):
        batcher.submit([item(1), item(2)]).result(timeout=10)


def test_failing_metrics_hook_does_not_fail_requests(make_batcher):
    def hook(stats):
        raise RuntimeError("metrics are down")

    batcher = make_batcher(NumpyEngine(), on_batch=hook)
    assert batcher.submit([item(3)]).result(timeout=10).rows[0, 0] == 3


def test_on_batch_reports_sizes(make_batcher):
    stats = []
    batcher = make_batcher(NumpyEngine(), on_batch=stats.append)
    batcher.submit([item(1, 1, 1), item(2)]).result(timeout=10)
    assert [(s.size, s.tokens, s.padded_tokens) for s in stats] == [(2, 4, 6)]


def test_empty_request_resolves_at_once(make_batcher):
    out = make_batcher(NumpyEngine()).submit([]).result(timeout=1)
    assert out.rows.shape[0] == 0


def test_close_drains_waiting_work(make_batcher):
    engine = NumpyEngine()
    batcher = make_batcher(engine, max_batch_size=1)
    engine.gate.clear()
    futures = [batcher.submit([item(i)]) for i in range(1, 6)]
    threading.Timer(0.1, engine.gate.set).start()
    batcher.close(timeout=10)
    assert [f.result(timeout=0).rows[0, 0] for f in futures] == [1, 2, 3, 4, 5]
    with pytest.raises(UnhealthyError):
        batcher.submit([item(1)])


def test_close_with_a_stuck_engine_fails_everything_it_holds(make_batcher):
    engine = NumpyEngine()
    batcher = make_batcher(engine, max_batch_size=1)
    engine.gate.clear()
    running = batcher.submit([item(1)])
    engine.started.wait(5)
    waiting = batcher.submit([item(2)])
    batcher.close(timeout=0.2)
    for future in (running, waiting):
        assert future.done()
        with pytest.raises(UnhealthyError, match="shut down"):
            future.result(timeout=0)
    engine.gate.set()  # the stuck batch finishes late; its result must not resurrect the request
    batcher._worker.join(5)
    assert isinstance(running.exception(timeout=0), UnhealthyError)
