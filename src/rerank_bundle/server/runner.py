"""`rerank-bundle serve`: load the models, then run uvicorn until SIGTERM/SIGINT.

On a signal the app reports 503 on /health at once (load balancers stop sending), uvicorn
stops accepting connections and waits for in-flight requests, then the lifespan drains
async jobs and closes the models.
"""
from __future__ import annotations

import argparse
import logging
from typing import Any

import uvicorn

from ..config import load_catalog
from ..service import Reranker
from .app import create_app
from .metrics import ServerMetrics
from .registry import load_registry
from .settings import ServerSettings

log = logging.getLogger("rerank_bundle.server")


class DrainingServer(uvicorn.Server):
    """uvicorn's server, telling the app that draining has begun as soon as a signal lands."""

    def __init__(self, config: uvicorn.Config, state: Any) -> None:
        super().__init__(config)
        self._state = state

    def handle_exit(self, sig: int, frame: Any) -> None:
        self._state.draining = True
        super().handle_exit(sig, frame)


def serve(args: argparse.Namespace) -> int:
    for name in ("rerank_bundle.server", "rerank_bundle.server.access"):
        logging.getLogger(name).setLevel(logging.INFO)
    settings = ServerSettings.from_env(api_keys=args.api_key)
    metrics = ServerMetrics()
    catalog = load_catalog(args.catalog)

    def load(spec: str | None) -> Reranker:
        entry = catalog.resolve(spec or catalog.default_model)
        # create_app attaches the batch metrics hook to every model it serves.
        return Reranker.load(entry, engine=args.engine, device=args.device, precision=args.precision)

    registry = load_registry(args.model or [None], load=load)
    app = create_app(registry, settings=settings, metrics=metrics)
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_config=None, access_log=False, lifespan="on",
        timeout_graceful_shutdown=int(settings.drain_timeout_seconds),
    )
    auth = "API keys required" if settings.api_keys else "no auth"
    log.info("rerank-bundle serving %s on http://%s:%d (%s)", ", ".join(registry.names), args.host, args.port, auth)
    DrainingServer(config, app.state.server).run()
    return 0
