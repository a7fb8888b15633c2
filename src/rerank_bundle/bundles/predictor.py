"""`BundlePredictor`: what a bundle's model/model.py delegates to (the Python-model variant).

It holds the bundle's settings, loads the same `Reranker` the server uses, recognises the
payload shape and answers it through the server's own route table (schemas/). Runtime
errors become JSON error responses with the contract's status codes; truss passes a
returned `Response` on unchanged, so a bad request is a 4xx with a JSON body, never
truss's generic 500.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import OverloadedError, RerankBundleError, UnhealthyError
from ..schemas import run_internal
from . import payloads
from .settings import BundleSettings, engine_cache_dir, resolve_entry, settings_from_config

if TYPE_CHECKING:
    from ..service import Reranker

log = logging.getLogger(__name__)


class BundlePredictor:
    def __init__(self, settings: BundleSettings, *, bundle_dir: Path, engine: str | None = None,
                 device: str | None = None) -> None:
        self.settings = settings
        self.bundle_dir = Path(bundle_dir)
        self._engine = engine
        self._device = device
        self._ranker: Reranker | None = None

    @classmethod
    def from_truss_config(cls, config: Mapping[str, Any], *, bundle_dir: Path, **options: Any) -> "BundlePredictor":
        """From the config dict truss passes to `Model.__init__(config=...)`."""
        return cls(settings_from_config(config, origin=f"{bundle_dir}/config.yaml"), bundle_dir=bundle_dir, **options)

    @property
    def name(self) -> str:
        return self.settings.model.name

    @property
    def default_route(self) -> str:
        return self.settings.route

    def load(self) -> None:
        """Load weights (the cached copy when the deployment has one) and start the batcher."""
        from ..service import Reranker

        self._point_engine_cache()
        entry = resolve_entry(self.settings, self.bundle_dir)
        self._ranker = Reranker.load(entry, engine=self._engine, device=self._device)
        log.info("bundle %s ready: %s", self.name, self._ranker.info())

    def _point_engine_cache(self) -> None:
        """Compiled engines built on first start go beside the cached weights, as the server
        variant's start command arranges; an explicit RERANK_BUNDLE_CACHE wins. The runtime
        reads the variable (the engine selection has no other way in), and this process
        serves this one bundle, so setting it here is what the start command does."""
        from ..compile.manifest import CACHE_ENV

        directory = engine_cache_dir(self.settings, self.bundle_dir)
        if directory is not None and not os.environ.get(CACHE_ENV):
            os.environ[CACHE_ENV] = str(directory)
        log.info("bundle %s: engine cache %s", self.name, os.environ.get(CACHE_ENV) or "(runtime default)")

    def close(self) -> None:
        if self._ranker is not None:
            self._ranker.close()
            self._ranker = None

    async def predict(self, payload: Any) -> Any:
        """Baseten's /predict: the default route, or whichever route the payload's keys name."""
        try:
            kind = self._loaded().kind
            route = payloads.detect_route(payload, default_route=self.default_route, kind=kind)
        except RerankBundleError as exc:
            return error_response(exc)
        return await self.handle(route, payload)

    async def handle(self, route: str, payload: Any) -> Any:
        """Answer `payload` as `route` would: the JSON value, or a JSON error response."""
        try:
            ranker = self._loaded()
            call = payloads.parse(route, payload, model=self.name)
            result = await run_internal(ranker, call.request)
        except RerankBundleError as exc:
            return error_response(exc)
        return call.render(result)

    def _loaded(self) -> "Reranker":
        if self._ranker is None:
            raise UnhealthyError(f"model {self.name} is not loaded yet")
        return self._ranker


def error_response(exc: RerankBundleError) -> Any:
    """The contract's error body and status (429 carries Retry-After)."""
    from starlette.responses import JSONResponse

    headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if isinstance(exc, OverloadedError) else None
    return JSONResponse(status_code=exc.status, content=exc.to_body(), headers=headers)


__all__ = ["BundlePredictor", "error_response"]
