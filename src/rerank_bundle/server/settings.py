"""Server options: one frozen object built from CLI arguments and the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Mapping

from ..errors import ConfigError

API_KEYS_ENV = "RERANK_BUNDLE_API_KEYS"
PAYLOAD_LIMIT_ENV = "RERANK_BUNDLE_PAYLOAD_LIMIT"


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    api_keys: tuple[str, ...] = ()
    # Bodies over this many bytes are refused with 413 while streaming in, never read whole.
    max_payload_bytes: int = 2 * 1024 * 1024
    # What `truncate: null` (or an absent option) means on routes that have the option.
    truncate_default: bool = True
    # Seconds a 429 asks the client to wait (Retry-After).
    retry_after_seconds: int = 1
    # Async jobs: at most this many queued or running, this many kept in all, finished ones
    # kept this long; this many run at once so sync traffic keeps its share of the queue.
    async_max_pending: int = 256
    async_max_jobs: int = 10_000
    async_ttl_seconds: float = 3600.0
    async_workers: int = 4
    webhook_attempts: int = 3
    webhook_timeout_seconds: float = 10.0
    webhook_backoff_seconds: float = 0.5
    # SIGTERM: how long in-flight requests and running jobs get before the process exits.
    drain_timeout_seconds: float = 30.0

    @classmethod
    def from_env(
        cls, *, api_keys: Iterable[str] | None = None, env: Mapping[str, str] | None = None, **overrides: object
    ) -> "ServerSettings":
        """CLI keys plus comma-separated $RERANK_BUNDLE_API_KEYS; $RERANK_BUNDLE_PAYLOAD_LIMIT in bytes."""
        env = os.environ if env is None else env
        keys = [k.strip() for k in (api_keys or [])]
        keys += [k.strip() for k in env.get(API_KEYS_ENV, "").split(",")]
        options: dict[str, object] = {"api_keys": tuple(dict.fromkeys(k for k in keys if k))}
        if env.get(PAYLOAD_LIMIT_ENV):
            try:
                options["max_payload_bytes"] = int(env[PAYLOAD_LIMIT_ENV])
            except ValueError:
                raise ConfigError(f"{PAYLOAD_LIMIT_ENV} must be a number of bytes, got {env[PAYLOAD_LIMIT_ENV]!r}") from None
        options.update(overrides)
        return cls(**options)  # type: ignore[arg-type]
