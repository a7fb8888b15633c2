"""`rerank-bundle serve` as a real process, as `make serve` runs it: the embedded default
answers the seed request on /rerank and /v2/rerank, and SIGTERM drains in-flight work."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from rerank_bundle.bench.http_load import free_port, serve_subprocess

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
SEED_QUERY = "What is Deep Learning?"
SEED_DOCS = [
    "Deep Learning is not...", "Deep learning is a subset of machine learning...", "I like pizza", "The weather is nice today",
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen, str]]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    env.pop("RERANK_BUNDLE_API_KEYS", None)
    cmd = [sys.executable, "-m", "rerank_bundle.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with serve_subprocess(cmd, port=port, log_path=tmp_path_factory.mktemp("serve") / "server.log", env=env, cwd=ROOT) as proc:
        yield proc, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("path,body,key", [
    ("/rerank", {"query": SEED_QUERY, "texts": SEED_DOCS}, None),
    ("/v2/rerank", {"model": "all-minilm-l6-v2", "query": SEED_QUERY, "documents": SEED_DOCS}, "results"),
])
def test_seed_request_ranks_pizza_and_weather_last(served, path: str, body: dict, key: str | None) -> None:
    _, url = served
    r = httpx.post(f"{url}{path}", json=body, timeout=30)
    assert r.status_code == 200, r.text
    ranked = r.json() if key is None else r.json()[key]
    order = [x["index"] for x in ranked]
    assert set(order[:2]) == {0, 1} and set(order[2:]) == {2, 3}, order


def test_info_names_the_embedded_default(served) -> None:
    _, url = served
    info = httpx.get(f"{url}/info").json()
    assert info["model_id"] == "all-minilm-l6-v2" and info["kind"] == "embed" and info["pair_scoring"] == "cosine"


def test_sigterm_drains_in_flight_requests(served) -> None:
    proc, url = served
    docs = [" ".join(f"word{i} deep learning network" for i in range(80)) + f" doc {n}" for n in range(24)]
    outcome: dict = {}

    def slow_request() -> None:
        try:
            outcome["response"] = httpx.post(f"{url}/rerank", json={"query": SEED_QUERY, "texts": docs}, timeout=120)
        except httpx.HTTPError as exc:  # pragma: no cover - reported by the assertion below
            outcome["error"] = exc

    worker = threading.Thread(target=slow_request)
    worker.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the /metrics request itself is one in flight
        lines = httpx.get(f"{url}/metrics").text.splitlines()
        if any(line.startswith("rerank_bundle_requests_in_flight ") and float(line.split()[1]) >= 2 for line in lines):
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    worker.join(timeout=120)
    assert "error" not in outcome, outcome.get("error")
    response = outcome["response"]
    assert response.status_code == 200 and len(response.json()) == 24
    # uvicorn re-raises the signal once it has shut down, so the exit is "terminated by
    # SIGTERM" after the drain (143 in a shell), as the default handler would have it.
    assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=2)
