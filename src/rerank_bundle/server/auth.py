"""API keys: `Authorization: Bearer K` or `Authorization: Api-Key K` on every route but the
probes. Keys are compared as SHA-256 digests with `hmac.compare_digest` against every
configured key, so timing reveals neither a key's length nor which key nearly matched."""
from __future__ import annotations

import hashlib
import hmac
from typing import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import UnauthorizedError
from .errors import error_response

OPEN_PATHS = frozenset({"/health", "/metrics"})
_SCHEMES = ("bearer", "api-key")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


class ApiKeyChecker:
    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = [_digest(k) for k in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def check(self, authorization: str | None) -> None:
        if not authorization:
            raise UnauthorizedError("missing API key: send 'Authorization: Bearer <key>' or 'Authorization: Api-Key <key>'")
        scheme, _, key = authorization.strip().partition(" ")
        if scheme.lower() not in _SCHEMES or not key.strip():
            raise UnauthorizedError("malformed Authorization header: use 'Bearer <key>' or 'Api-Key <key>'")
        given = _digest(key.strip())
        matched = False
        for digest in self._digests:  # no early exit: every key costs the same
            matched |= hmac.compare_digest(given, digest)
        if not matched:
            raise UnauthorizedError("invalid API key")


class ApiKeyMiddleware:
    """Pure ASGI, so it also guards the docs, async routes and unknown paths."""

    def __init__(self, app: ASGIApp, *, checker: ApiKeyChecker) -> None:
        self.app = app
        self.checker = checker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.checker.enabled or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        try:
            self.checker.check(header.decode("latin-1") if header is not None else None)
        except UnauthorizedError as exc:
            await error_response(exc, state=scope.setdefault("state", {}))(scope, receive, send)
            return
        await self.app(scope, receive, send)
