"""Webhook delivery for async jobs: POST the job as JSON, a few bounded retries with
backoff on connection errors, 429 and 5xx, each attempt with a timeout. Runs in tasks of
its own, so a slow receiver never holds up serving."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

import httpx
import orjson

from .settings import ServerSettings

log = logging.getLogger(__name__)


class WebhookSender:
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task] = set()

    def send(self, url: str, payload: dict[str, Any], *, on_done: Callable[[bool], None]) -> None:
        task = asyncio.create_task(self._deliver(url, orjson.dumps(payload), on_done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, body: bytes, on_done: Callable[[bool], None]) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.settings.webhook_timeout_seconds)
        delay = self.settings.webhook_backoff_seconds
        for attempt in range(1, self.settings.webhook_attempts + 1):
            try:
                response = await self._client.post(url, content=body, headers={"content-type": "application/json"})
                if response.status_code < 400:
                    on_done(True)
                    return
                retry = response.status_code == 429 or response.status_code >= 500
                log.warning("webhook %s answered %d (attempt %d)", url, response.status_code, attempt)
            except httpx.HTTPError as exc:
                retry = True
                log.warning("webhook %s failed: %s (attempt %d)", url, type(exc).__name__, attempt)
            if not retry or attempt == self.settings.webhook_attempts:
                break
            await asyncio.sleep(delay)
            delay *= 2
        on_done(False)

    async def close(self, *, timeout: float) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in list(self._tasks):
            task.cancel()
        if self._client is not None:
            await self._client.aclose()
