"""HTTP server over the runtime: every wire format in `schemas`, auth, async jobs, metrics.

    from rerank_bundle.server import create_app, ModelRegistry
    app = create_app(ModelRegistry([Reranker.load("all-minilm-l6-v2")]))
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

__all__ = ["ModelRegistry", "ServerMetrics", "ServerSettings", "create_app", "serve"]


def serve(args: "argparse.Namespace") -> int:
    from .runner import serve as run

    return run(args)


def __getattr__(name: str) -> Any:  # FastAPI and the runtime load only when used
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "ModelRegistry":
        from .registry import ModelRegistry

        return ModelRegistry
    if name == "ServerMetrics":
        from .metrics import ServerMetrics

        return ServerMetrics
    if name == "ServerSettings":
        from .settings import ServerSettings

        return ServerSettings
    raise AttributeError(name)
