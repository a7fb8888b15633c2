"""API keys guard every route but /health and /metrics: Bearer or Api-Key, wrong or missing → 401."""
from __future__ import annotations

import httpx
import pytest

from fixtures.server_fixtures import API_KEYS

pytestmark = pytest.mark.timeout(120)

VALID = {
    "/rerank": {"query": "q", "texts": ["a", "b"]},
    "/predict": {"inputs": "a"},
    "/embed": {"inputs": "a"},
    "/v1/embeddings": {"input": "a"},
    "/v1/rerank": {"query": "q", "documents": ["a"]},
    "/v2/rerank": {"query": "q", "documents": ["a"]},
    "/v3/rerank": {"query": "q", "documents": ["a"]},
    "/score": {"text_1": "q", "text_2": ["a"]},
    "/v1/score": {"text_1": "q", "text_2": ["a"]},
    "/v1/ranking": {"query": {"text": "q"}, "passages": [{"text": "a"}]},
}
OPEN = {"/health", "/metrics"}
# The auth server holds one reranker: the embedding routes get past auth and then say so.
NOT_AN_EMBEDDER = {"/embed", "/v1/embeddings"}


def every_route(app) -> list[tuple[str, str]]:
    out = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", None) or []):
            if method != "HEAD":
                out.append((method, route.path))
    return out


_CLIENT = httpx.Client(timeout=60)  # one client: making one per call costs ~50 ms of TLS setup


def call(server, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    url = server.url + path.replace("{request_id}", "0" * 32)
    body = VALID.get(path.removeprefix("/async"))
    return _CLIENT.request(method, url, json=body if method == "POST" else None, headers=headers)


def test_route_list_is_complete(auth_server) -> None:
    paths = {p for _, p in every_route(auth_server.app)}
    assert set(VALID) | {f"/async{p}" for p in VALID} | OPEN | {"/info", "/v1/models", "/openapi.json", "/docs"} <= paths


def test_every_route_needs_a_key(auth_server) -> None:
    routes = every_route(auth_server.app)
    assert len(routes) >= 30
    for method, path in routes:
        missing = call(auth_server, method, path, {})
        wrong = call(auth_server, method, path, {"Authorization": "Bearer not-a-key"})
        if path in OPEN:
            assert missing.status_code == 200 and wrong.status_code == 200, path
            continue
        for r in (missing, wrong):
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.json()["error_type"] == "Unauthorized" and "www-authenticate" in r.headers
        for header in (f"Bearer {API_KEYS[0]}", f"Api-Key {API_KEYS[1]}", f"bearer {API_KEYS[1]}"):
            ok = call(auth_server, method, path, {"Authorization": header})
            expected = 404 if "{request_id}" in path else 201 if path.startswith("/async") else 200
            expected = 422 if path in NOT_AN_EMBEDDER else expected
            assert ok.status_code == expected, (method, path, header, ok.status_code, ok.text[:200])


@pytest.mark.parametrize("header", ["", "Bearer", "Basic a2V5LW9uZQ==", "Token key-one", "Bearer key-one-extra", "key-one"])
def test_malformed_authorization_is_401(auth_server, header: str) -> None:
    r = httpx.post(f"{auth_server.url}/rerank", json=VALID["/rerank"], headers={"Authorization": header})
    assert r.status_code == 401


def test_keys_never_appear_in_logs(auth_server, caplog) -> None:
    with caplog.at_level("DEBUG"):
        httpx.post(f"{auth_server.url}/rerank", json=VALID["/rerank"], headers={"Authorization": f"Bearer {API_KEYS[0]}"})
        wrong = {"Authorization": "Bearer wrong-secret-value"}
        httpx.post(f"{auth_server.url}/rerank", json=VALID["/rerank"], headers=wrong)
    assert caplog.records, "expected access log lines"
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert API_KEYS[0] not in text and "wrong-secret-value" not in text
