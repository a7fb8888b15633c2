"""Route handlers, built from the `WIRE_ROUTES` table: read and validate the body, pick the
model, convert to the internal request, run it, convert back. No scoring logic here."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional

import httpx
from pydantic import Field, create_model
from starlette.requests import Request
from starlette.responses import Response

from ..errors import UnhealthyError, ValidationError
from ..schemas import InternalRequest, WireContext, WireModel, WireRoute, run_internal
from ..service import Reranker
from ..types import EmbedRequest, PredictRequest, RerankRequest
from .context import Outcome, record_outcome, request_id, timing_headers
from .http import parse_body, read_body, render
from .jobs import JobStore
from .metrics import ServerMetrics
from .registry import ModelRegistry
from .settings import ServerSettings


@dataclass
class ServerState:
    registry: ModelRegistry
    settings: ServerSettings
    metrics: ServerMetrics
    jobs: JobStore
    started_at: float = field(default_factory=time.time)
    draining: bool = False


def _item_count(request: InternalRequest) -> int:
    if isinstance(request, RerankRequest):
        return len(request.documents)
    if isinstance(request, PredictRequest):
        return len(request.inputs)
    if isinstance(request, EmbedRequest):
        return len(request.texts)
    return len(request.text_2)


@dataclass(frozen=True)
class Prepared:
    """A validated request bound to its model, ready to run now or as an async job."""

    route: WireRoute
    body: WireModel
    model: Reranker
    ctx: WireContext
    internal: InternalRequest

    async def run(self, metrics: ServerMetrics) -> tuple[Any, Outcome]:
        result = await run_internal(self.model, self.internal)
        metrics.observe_result(self.model.name, result.timings, result.prompt_tokens)
        outcome = Outcome(
            self.model.name, result.prompt_tokens, result.timings, items=_item_count(self.internal),
            device=self.model.engine.device,
        )
        return self.route.to_wire(self.body, result, self.ctx), outcome


async def prepare(state: ServerState, route: WireRoute, request: Request, body_model: type[WireModel]) -> Prepared:
    body = parse_body(await read_body(request, limit=state.settings.max_payload_bytes), body_model)
    model = state.registry.pick(body.model)
    ctx = WireContext(
        model=model.name, truncate_default=state.settings.truncate_default, request_id=request_id(request.scope)
    )
    return Prepared(route, body, model, ctx, route.to_internal(body, ctx))


def sync_endpoint(state: ServerState, route: WireRoute) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        prepared = await prepare(state, route, request, route.body)
        payload, outcome = await prepared.run(state.metrics)
        record_outcome(request.scope, outcome)
        return render(request, payload, headers=timing_headers(outcome))

    endpoint.__name__ = f"post_{route.path.strip('/').replace('/', '_')}"
    return endpoint


def async_body(body: type[WireModel]) -> type[WireModel]:
    """The sync body plus an optional `webhook_endpoint`."""
    return create_model(  # type: ignore[call-overload]
        f"Async{body.__name__}", __base__=body,
        webhook_endpoint=(Optional[str], Field(default=None, description="http(s) URL that receives the finished job.")),
    )


def _webhook(url: str | None) -> str | None:
    if url is None:
        return None
    try:
        parsed = httpx.URL(url)
    except Exception:  # noqa: BLE001 - httpx raises several types for bad URLs
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValidationError("webhook_endpoint must be an http(s) URL")
    return url


def async_endpoint(
    state: ServerState, route: WireRoute, body_model: type[WireModel]
) -> Callable[[Request], Awaitable[Response]]:
    """`body_model` is `async_body(route.body)`, built once by the app for validation and docs."""

    async def endpoint(request: Request) -> Response:
        prepared = await prepare(state, route, request, body_model)
        webhook = _webhook(getattr(prepared.body, "webhook_endpoint", None))

        async def work() -> Any:
            payload, _ = await prepared.run(state.metrics)
            return payload

        job = state.jobs.submit(route=route.path, model=prepared.model.name, work=work, webhook=webhook)
        return render(request, {"request_id": job.id}, status=201)

    endpoint.__name__ = f"post_async_{route.path.strip('/').replace('/', '_')}"
    return endpoint


def meta_endpoints(state: ServerState) -> dict[str, Callable[..., Awaitable[Response]]]:
    """Handlers of the GET/DELETE routes, by name."""

    async def health(request: Request) -> Response:
        if state.draining:
            raise UnhealthyError("unhealthy")
        return render(request, {"status": "ok", "models": state.registry.names})

    async def info(request: Request) -> Response:
        infos = [m.info() for m in state.registry]
        server = {"max_payload_bytes": state.settings.max_payload_bytes, "auth": bool(state.settings.api_keys)}
        return render(request, {**infos[0], "models": infos, "server": server})

    async def models(request: Request) -> Response:
        created = int(state.started_at)
        data = [
            {"id": m.name, "object": "model", "created": created, "owned_by": "rerank-bundle", **m.info()}
            for m in state.registry
        ]
        return render(request, {"object": "list", "data": data})

    async def metrics(request: Request) -> Response:
        return Response(state.metrics.render(), media_type=state.metrics.content_type)

    async def get_job(request: Request, request_id: str) -> Response:
        return render(request, state.jobs.get(request_id).as_dict())

    async def cancel_job(request: Request, request_id: str) -> Response:
        canceled = state.jobs.cancel(request_id)
        job = state.jobs.get(request_id)
        return render(request, {"request_id": job.id, "canceled": canceled, "status": job.status.value})

    return {
        "health": health, "info": info, "models": models, "metrics": metrics, "get_job": get_job, "cancel_job": cancel_job,
    }
