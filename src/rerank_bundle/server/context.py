"""Per-request bookkeeping around every route: request id, timing, metrics, one log line.

`X-Request-ID` is honoured when it looks like an id (else a fresh one is made) and echoed
back. Handlers leave what they learnt in the request's scope state (`outcome`, set by
`record_outcome`; `error_type`, set by the error handler); this middleware turns it into
the access log line and the request metrics once the response has gone out.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..types import Timings
from .metrics import ServerMetrics

access_log = logging.getLogger("rerank_bundle.server.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")


@dataclass(frozen=True)
class Outcome:
    model: str
    prompt_tokens: int
    timings: Timings
    items: int = 0
    device: str = ""


def timing_headers(outcome: Outcome) -> dict[str, str]:
    """TEI's x-*-time headers (milliseconds) plus the model and token count."""
    t = outcome.timings
    total = t.tokenization_seconds + t.queue_seconds + t.inference_seconds
    return {
        "x-compute-type": outcome.device,
        "x-model-id": outcome.model,
        "x-compute-time": _ms(total),
        "x-compute-tokens": str(outcome.prompt_tokens),
        "x-tokenization-time": _ms(t.tokenization_seconds),
        "x-queue-time": _ms(t.queue_seconds),
        "x-inference-time": _ms(t.inference_seconds),
    }


def _ms(seconds: float) -> str:
    return str(int(round(seconds * 1000)))


def request_id(scope: Scope) -> str:
    return scope.get("state", {}).get("request_id", "")


def record_outcome(scope: Scope, outcome: Outcome) -> None:
    scope.setdefault("state", {})["outcome"] = outcome


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        state["request_id"] = rid
        start = time.perf_counter()
        status = 500  # what the client sees if the app dies before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.metrics.in_flight.dec()
            self._finish(scope, state, status, time.perf_counter() - start)

    def _finish(self, scope: Scope, state: dict, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        error_type = state.get("error_type") if status >= 400 else None
        self.metrics.observe_request(route, status, seconds, error_type)
        outcome: Outcome | None = state.get("outcome")
        line = {
            "request_id": state["request_id"], "method": scope["method"], "path": scope["path"], "status": status,
            "duration_ms": round(seconds * 1000, 2),
        }
        if outcome is not None:
            line.update(model=outcome.model, prompt_tokens=outcome.prompt_tokens, items=outcome.items)
        if error_type:
            line["error_type"] = error_type
        access_log.info("%s", orjson.dumps(line).decode())
