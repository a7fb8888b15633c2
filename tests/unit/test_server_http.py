"""Server helpers that need no model: content negotiation, error text, keys, settings."""
from __future__ import annotations

import pytest

from rerank_bundle.errors import ConfigError, UnauthorizedError, ValidationError
from rerank_bundle.schemas.tei import RerankBody
from rerank_bundle.server.auth import ApiKeyChecker
from rerank_bundle.server.http import parse_body, wanted_msgpack
from rerank_bundle.server.settings import ServerSettings


@pytest.mark.parametrize("accept,expected", [
    (None, None),
    ("*/*", None),
    ("application/json", None),
    ("application/json, application/msgpack", "application/msgpack"),  # baseten-performance-client
    ("application/x-msgpack", "application/x-msgpack"),
    ("application/vnd.msgpack;q=0.9, application/json;q=0.8", "application/vnd.msgpack"),
    ("application/json, application/msgpack;q=0.5", None),
    ("application/msgpack;q=0", None),
    ("application/msgpack;q=oops", None),
])
def test_msgpack_negotiation(accept, expected) -> None:
    assert wanted_msgpack(accept) == expected


@pytest.mark.parametrize("raw,fragment", [
    (b"", "empty body"),
    (b"   ", "empty body"),
    (b"{", "malformed JSON"),
    (b"[]", "must be a JSON object"),
    (b'{"query": "q", "texts": [1, 2, 3, 4, 5, 6, 7]}', "(and 2 more)"),
])
def test_parse_errors_are_validation_errors(raw: bytes, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_body(raw, RerankBody)
    assert fragment in info.value.message


def test_api_key_checker() -> None:
    checker = ApiKeyChecker(["alpha", "beta"])
    for header in ("Bearer alpha", "Api-Key beta", "bearer beta", "API-KEY alpha", "  Bearer   alpha "):
        checker.check(header)
    for header in (None, "", "alpha", "Basic alpha", "Bearer alph", "Bearer alphaa", "Bearer "):
        with pytest.raises(UnauthorizedError):
            checker.check(header)
    assert not ApiKeyChecker([]).enabled


def test_settings_from_cli_and_env() -> None:
    settings = ServerSettings.from_env(api_keys=["cli-key"], env={"RERANK_BUNDLE_API_KEYS": " env-a, env-b ,,cli-key"})
    assert settings.api_keys == ("cli-key", "env-a", "env-b")
    assert ServerSettings.from_env(env={}).api_keys == ()
    assert ServerSettings.from_env(env={"RERANK_BUNDLE_PAYLOAD_LIMIT": "1024"}).max_payload_bytes == 1024
    with pytest.raises(ConfigError):
        ServerSettings.from_env(env={"RERANK_BUNDLE_PAYLOAD_LIMIT": "2MB"})
