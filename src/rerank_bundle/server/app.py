"""The ASGI app: one route per `WIRE_ROUTES` entry (sync and `/async/...`) plus health,
info, models, metrics and async job routes; middlewares for request context and auth."""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI

from .. import __version__
from ..schemas import WIRE_ROUTES
from .auth import ApiKeyChecker, ApiKeyMiddleware
from .context import RequestContextMiddleware
from .errors import install_error_handlers
from .jobs import JobStore
from .metrics import ServerMetrics
from .openapi import SchemaCollector
from .registry import ModelRegistry
from .routes import ServerState, async_body, async_endpoint, meta_endpoints, sync_endpoint
from .settings import ServerSettings

log = logging.getLogger(__name__)

DESCRIPTION = (
    "Rerank, classify and embed with the wire formats of TEI/BEI, Cohere, OpenAI, vLLM and NIM. "
    "Errors are JSON `{error, error_type}`; with API keys configured, send `Authorization: Bearer <key>`."
)


def create_app(
    registry: ModelRegistry, *, settings: ServerSettings | None = None, metrics: ServerMetrics | None = None,
    close_models: bool = True,
) -> FastAPI:
    """Serve `registry`. On shutdown, async jobs drain and (with `close_models`) the models close."""
    settings = settings or ServerSettings()
    metrics = metrics or ServerMetrics()
    for model in registry:
        metrics.watch_queue(model.name, lambda m=model: m.batcher.queue_depth)
        if model.batcher.on_batch is None:  # loaded without the hook: attach it now
            model.batcher.on_batch = metrics.batch_observer(model.name)
    jobs = JobStore(settings, on_change=metrics.set_job_counts)
    state = ServerState(registry=registry, settings=settings, metrics=metrics, jobs=jobs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        jobs.start()
        log.info("serving %s", ", ".join(registry.names))
        yield
        state.draining = True
        await jobs.stop(timeout=settings.drain_timeout_seconds)
        if close_models:
            registry.close()

    app = FastAPI(title="rerank-bundle", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.server = state
    collector = SchemaCollector()
    _add_wire_routes(app, state, collector)
    _add_meta_routes(app, state)
    collector.install(app)
    install_error_handlers(app)
    app.add_middleware(ApiKeyMiddleware, checker=ApiKeyChecker(settings.api_keys))
    app.add_middleware(RequestContextMiddleware, metrics=metrics)  # outermost: sees 401s too
    return app


def _add_wire_routes(app: FastAPI, state: ServerState, collector: SchemaCollector) -> None:
    for route in WIRE_ROUTES:
        responses = collector.responses(route.response_schema)
        queued_body = async_body(route.body)
        app.add_api_route(
            route.path, sync_endpoint(state, route), methods=["POST"], summary=route.summary, tags=[route.family],
            openapi_extra=collector.request_body(route.body), responses=responses,
        )
        app.add_api_route(
            f"/async{route.path}", async_endpoint(state, route, queued_body), methods=["POST"], tags=["Async"], status_code=201,
            summary=f"Queue a {route.path} request; answers {{request_id}} at once.",
            openapi_extra=collector.request_body(queued_body),
        )


def _add_meta_routes(app: FastAPI, state: ServerState) -> None:
    handlers = meta_endpoints(state)
    table = (
        ("/health", "GET", "health", "200 when ready, 503 while starting or draining. No auth.", "Server"),
        ("/info", "GET", "info", "The served models: kind, dtype, engine, limits, version.", "Server"),
        ("/v1/models", "GET", "models", "OpenAI-style list of the served models.", "Server"),
        ("/metrics", "GET", "metrics", "Prometheus metrics. No auth.", "Server"),
        ("/async/requests/{request_id}", "GET", "get_job", "An async job's status and, when done, its result.", "Async"),
        ("/async/requests/{request_id}", "DELETE", "cancel_job", "Cancel a queued or running async job.", "Async"),
    )
    for path, method, name, summary, tag in table:
        app.add_api_route(
            path, handlers[name], methods=[method], summary=summary, tags=[tag], include_in_schema=name != "metrics"
        )
