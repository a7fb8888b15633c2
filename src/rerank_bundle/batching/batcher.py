"""TokenBudgetBatcher: the queue between callers and the engine.

Callers submit a request's tokenized items and get a future; one worker thread packs the
waiting items of all requests into forward passes under a padded-token budget, runs the
engine, and hands each request its rows back in its own order. The event loop never
blocks: async callers await `asyncio.wrap_future`, sync callers `.result()`.

Failure rules: a full queue rejects at once (OverloadedError); a cancelled request leaves
the queue; an engine error fails exactly the requests in that batch; closing fails
whatever is still waiting. No future is ever left pending.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..engines.base import Engine, ModelInputs
from ..errors import BackendError, OverloadedError, UnhealthyError
from ..tokenization import EncodedItem
from .planner import PlanItem, padded_length, plan_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ItemOutputs:
    """A request's engine outputs, one row per submitted item, plus where its time went."""

    rows: np.ndarray
    queue_seconds: float
    inference_seconds: float


@dataclass(frozen=True)
class BatchStats:
    size: int
    tokens: int
    padded_tokens: int
    inference_seconds: float
    queue_depth: int


@dataclass(eq=False)
class _Request:
    items: Sequence[EncodedItem]
    future: Future
    submitted: float
    rows: list[np.ndarray | None] = field(default_factory=list)
    remaining: int = 0
    started: float | None = None
    inference_seconds: float = 0.0


class TokenBudgetBatcher:
    def __init__(
        self,
        engine: Engine,
        *,
        max_num_tokens: int,
        max_batch_size: int,
        max_queue_requests: int,
        pad_token_id: int = 0,
        use_token_types: bool = False,
        on_batch: Callable[[BatchStats], None] | None = None,
    ) -> None:
        limits = engine.limits
        self.engine = engine
        self.max_num_tokens = max_num_tokens
        self.max_batch_size = min(max_batch_size, limits.max_batch_size or max_batch_size)
        self.max_queue_requests = max_queue_requests
        self.pad_token_id = pad_token_id
        self.use_token_types = use_token_types
        self.on_batch = on_batch
        self._pad_multiple = max(1, limits.pad_to_multiple_of)
        self._cond = threading.Condition()
        self._waiting: dict[int, PlanItem] = {}  # plan items not yet in a batch
        self._requests: set[_Request] = set()
        self._arrivals = itertools.count()
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="rerank-bundle-batcher", daemon=True)
        self._worker.start()

    # -- callers ------------------------------------------------------------------------

    def submit(self, items: Sequence[EncodedItem]) -> Future:
        """Queue a request's items; the future resolves to `ItemOutputs`."""
        future: Future = Future()
        request = _Request(items=items, future=future, submitted=time.perf_counter())
        request.rows = [None] * len(items)
        request.remaining = len(items)
        with self._cond:
            if self._closed:
                raise UnhealthyError("the model is shutting down")
            if len(self._requests) >= self.max_queue_requests:
                raise OverloadedError(f"queue full ({self.max_queue_requests} requests waiting); retry shortly")
            if not items:
                future.set_result(ItemOutputs(rows=np.zeros((0, 0), np.float32), queue_seconds=0.0, inference_seconds=0.0))
                return future
            self._requests.add(request)
            for slot, item in enumerate(items):
                arrival = next(self._arrivals)
                self._waiting[arrival] = PlanItem(key=(request, slot), length=len(item), arrival=arrival)
            self._cond.notify()
        future.add_done_callback(lambda f: self._forget(request) if f.cancelled() else None)
        return future

    async def run(self, items: Sequence[EncodedItem]) -> ItemOutputs:
        """Async submit; cancelling the awaiting task removes the request from the queue."""
        return await asyncio.wrap_future(self.submit(items))

    @property
    def queue_depth(self) -> int:
        return len(self._requests)

    def close(self, *, timeout: float = 30.0) -> None:
        """Finish the batches that are waiting, then stop; anything left fails with 503."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._worker.join(timeout)
        with self._cond:
            leftovers = list(self._requests)
        for request in leftovers:
            self._fail(request, UnhealthyError("the model shut down before this request ran"))

    # -- worker -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            stranded: list[_Request] = []
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if not self._waiting:
                    return
                try:
                    batch = self._next_batch()
                except Exception as exc:  # noqa: BLE001 - a planning bug must not strand callers
                    log.exception("batch planning failed")
                    batch, stranded = [], list(self._requests)
                    planning_error = BackendError(f"batch planning failed: {type(exc).__name__}: {exc}")
            for request in stranded:
                self._fail(request, planning_error)
            if batch:
                self._run_batch(batch)

    def _next_batch(self) -> list[PlanItem]:
        """Called under the lock: plan the next forward pass and take its items off the queue."""
        batch = plan_batch(
            list(self._waiting.values()),
            max_tokens=self.max_num_tokens,
            max_batch_size=self.max_batch_size,
            pad_multiple=self._pad_multiple,
        )
        for item in batch:
            del self._waiting[item.arrival]
        return batch

    def _run_batch(self, batch: list[PlanItem]) -> None:
        keys: list[tuple[_Request, int]] = [item.key for item in batch]  # type: ignore[misc]
        try:
            self._execute(keys)
        except BaseException as exc:  # noqa: BLE001 - the worker must survive anything
            log.exception("batch of %d items failed", len(keys))
            error = exc if isinstance(exc, BackendError) else BackendError(f"inference failed: {type(exc).__name__}: {exc}")
            for request in {request for request, _ in keys}:
                self._fail(request, error)

    def _execute(self, keys: list[tuple[_Request, int]]) -> None:
        now = time.perf_counter()
        for request, _ in keys:
            if request.started is None:
                request.started = now
        inputs = collate([request.items[slot] for request, slot in keys], self.pad_token_id, self.use_token_types,
                         pad_multiple=self._pad_multiple)
        out = np.asarray(self.engine.forward(inputs))
        elapsed = time.perf_counter() - now
        if out.shape[0] != len(keys):
            raise BackendError(f"engine returned {out.shape[0]} rows for a batch of {len(keys)}")
        if self.on_batch is not None:
            self._report(BatchStats(len(keys), int(inputs.attention_mask.sum()), inputs.padded_tokens, elapsed, self.queue_depth))
        for request in {request for request, _ in keys}:
            request.inference_seconds += elapsed  # only the worker thread writes this
        for row, (request, slot) in zip(out, keys):
            self._deliver(request, slot, row)

    def _report(self, stats: BatchStats) -> None:
        try:
            self.on_batch(stats)  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - a metrics hook must not fail the requests it measures
            log.exception("on_batch callback failed")

    def _deliver(self, request: _Request, slot: int, row: np.ndarray) -> None:
        with self._cond:
            if request not in self._requests:
                return  # cancelled or already failed
            request.rows[slot] = row
            request.remaining -= 1
            if request.remaining:
                return
            self._requests.discard(request)
        queue = (request.started or request.submitted) - request.submitted
        result = ItemOutputs(rows=np.stack(request.rows), queue_seconds=queue, inference_seconds=request.inference_seconds)
        try:
            request.future.set_result(result)
        except InvalidStateError:
            pass  # cancelled in the meantime

    def _fail(self, request: _Request, error: BaseException) -> None:
        self._forget(request)
        try:
            request.future.set_exception(error)
        except InvalidStateError:
            pass

    def _forget(self, request: _Request) -> None:
        with self._cond:
            self._requests.discard(request)
            for arrival in [a for a, it in self._waiting.items() if it.key[0] is request]:  # type: ignore[index]
                del self._waiting[arrival]


def collate(items: Sequence[EncodedItem], pad_token_id: int, use_token_types: bool, *, pad_multiple: int = 1) -> ModelInputs:
    """Right-pad items into one batch (length rounded up to `pad_multiple`). The build step
    uses it too, so calibration and fidelity batches are padded exactly as served ones."""
    seq = padded_length(max(len(it) for it in items), pad_multiple)
    ids = np.full((len(items), seq), pad_token_id, dtype=np.int64)
    mask = np.zeros((len(items), seq), dtype=np.int64)
    types = np.zeros((len(items), seq), dtype=np.int64) if use_token_types else None
    for i, item in enumerate(items):
        n = len(item)
        ids[i, :n] = item.input_ids
        mask[i, :n] = 1
        if types is not None:
            types[i, :n] = item.token_type_ids
    return ModelInputs(input_ids=ids, attention_mask=mask, token_type_ids=types)
