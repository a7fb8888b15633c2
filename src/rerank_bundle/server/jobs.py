"""Async jobs: `POST /async/<route>` queues the work and answers with an id at once.

A fixed number of worker tasks run queued jobs, so async traffic never crowds sync
requests out of the batch queue. The store is bounded twice: queued + running jobs (a
full queue is 429) and jobs kept in all; finished jobs are dropped after a TTL. Results
go to an optional webhook from a task of their own, with a few bounded retries.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Awaitable, Callable

from ..errors import BackendError, ErrorType, OverloadedError, RerankBundleError, UnhealthyError
from .settings import ServerSettings
from .webhooks import WebhookSender

log = logging.getLogger(__name__)


class JobNotFoundError(RerankBundleError):
    error_type = ErrorType.NOT_FOUND


class JobStatus(str, Enum):
    QUEUED = "QUEUED"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @property
    def done(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


@dataclass(eq=False)
class Job:
    id: str
    route: str
    model: str
    work: Callable[[], Awaitable[Any]]
    webhook: str | None = None
    status: JobStatus = JobStatus.QUEUED
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    result: Any = None
    error: dict[str, Any] | None = None
    webhook_status: str | None = None  # PENDING | DELIVERED | FAILED
    task: asyncio.Task | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "request_id": self.id, "status": self.status.value, "route": self.route, "model": self.model,
            "created_at": self.created_at, "started_at": self.started_at, "finished_at": self.finished_at,
        }
        if self.status is JobStatus.SUCCEEDED:
            out["result"] = self.result
        if self.error is not None:
            out["error"] = self.error
        if self.webhook:
            out["webhook"] = {"endpoint": self.webhook, "status": self.webhook_status}
        return out


class JobStore:
    def __init__(self, settings: ServerSettings, *, on_change: Callable[[dict[str, int]], None] | None = None) -> None:
        self.settings = settings
        self._jobs: dict[str, Job] = {}
        self._counts: Counter[JobStatus] = Counter()  # jobs kept, by status
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._workers: list[asyncio.Task] = []
        self._on_change = on_change
        self.webhooks = WebhookSender(settings)

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        count = self.settings.async_workers
        self._workers = [asyncio.create_task(self._worker(), name=f"async-job-{i}") for i in range(count)]

    async def stop(self, *, timeout: float) -> None:
        """Let queued and running jobs finish for up to `timeout` seconds, then fail the rest."""
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        for job in self._jobs.values():
            if not job.status.done:
                if job.task is not None:
                    job.task.cancel()
                self._finish(job, JobStatus.FAILED, error=UnhealthyError("the server shut down before this job finished"))
        await self.webhooks.close(timeout=max(0.0, deadline - time.monotonic()))

    # -- API --------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return self._counts[JobStatus.QUEUED] + self._counts[JobStatus.IN_PROGRESS]

    def submit(self, *, route: str, model: str, work: Callable[[], Awaitable[Any]], webhook: str | None) -> Job:
        self._purge()
        if self.pending >= self.settings.async_max_pending or len(self._jobs) >= self.settings.async_max_jobs:
            raise OverloadedError("too many async jobs; retry later", retry_after=self.settings.retry_after_seconds)
        job = Job(id=uuid.uuid4().hex, route=route, model=model, work=work, webhook=webhook)
        self._jobs[job.id] = job
        self._counts[job.status] += 1
        self._queue.put_nowait(job)
        self._changed()
        return job

    def get(self, job_id: str) -> Job:
        self._purge()
        job = self._jobs.get(job_id)
        if job is None:
            ttl = self.settings.async_ttl_seconds
            raise JobNotFoundError(f"no async request {job_id!r} (unknown, or expired after {ttl:g}s)")
        return job

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False when it had already finished."""
        job = self.get(job_id)
        if job.status.done:
            return False
        if job.task is not None:
            job.task.cancel()  # the worker sees the cancellation and marks the job
        else:
            self._finish(job, JobStatus.CANCELED)
        return True

    # -- internals --------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            job = await self._queue.get()
            if job.status is not JobStatus.QUEUED:
                continue  # canceled while it waited
            self._set_status(job, JobStatus.IN_PROGRESS)
            job.started_at = time.time()
            job.task = asyncio.create_task(job.work())
            await asyncio.wait({job.task})
            self._settle(job, job.task)

    def _settle(self, job: Job, task: asyncio.Task) -> None:
        if task.cancelled():
            self._finish(job, JobStatus.CANCELED)
        elif task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, RerankBundleError):
                log.error("async job %s failed", job.id, exc_info=exc)
                exc = BackendError(f"inference failed: {type(exc).__name__}")
            self._finish(job, JobStatus.FAILED, error=exc)
        else:
            job.result = task.result()
            self._finish(job, JobStatus.SUCCEEDED)

    def _finish(self, job: Job, status: JobStatus, *, error: RerankBundleError | None = None) -> None:
        job.finished_at, job.task, job.work = time.time(), None, _done
        if error is not None:
            job.error = {**error.to_body(), "status": error.status}
        self._set_status(job, status)
        if job.webhook and status is not JobStatus.CANCELED:
            job.webhook_status = "PENDING"
            self.webhooks.send(job.webhook, job.as_dict(), on_done=lambda ok: _mark_delivery(job, ok))

    def _set_status(self, job: Job, status: JobStatus) -> None:
        self._counts[job.status] -= 1
        self._counts[status] += 1
        job.status = status
        self._changed()

    def _purge(self) -> None:
        cutoff = time.time() - self.settings.async_ttl_seconds
        expired = [j for j in self._jobs.values() if j.finished_at is not None and j.finished_at < cutoff]
        for job in expired:
            del self._jobs[job.id]
            self._counts[job.status] -= 1
        if expired:
            self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change({s.value: self._counts[s] for s in JobStatus})


def _mark_delivery(job: Job, ok: bool) -> None:
    job.webhook_status = "DELIVERED" if ok else "FAILED"


async def _done() -> None:  # replaces a finished job's closure so its inputs can be freed
    return None
