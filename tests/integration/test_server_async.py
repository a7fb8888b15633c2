"""Async jobs: submit, poll, results equal to the sync route's, cancel, bounded queue, TTL,
and webhook delivery (with retries) to a local receiver."""
from __future__ import annotations

import time
from typing import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fixtures.live_server import LiveServer, load_faulty_model, start_server

pytestmark = pytest.mark.timeout(120)
TTL = 1.5


class Receiver:
    """A local webhook endpoint answering with the next status of a script (then 200)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.script: list[int] = []
        self.server = LiveServer(Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])).start()

    async def hook(self, request: Request) -> JSONResponse:
        self.received.append(await request.json())
        status = self.script.pop(0) if self.script else 200
        return JSONResponse({"ok": status < 400}, status_code=status)

    @property
    def url(self) -> str:
        return f"{self.server.url}/hook"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.stop()


@pytest.fixture(scope="module")
def jobs_server(tiny_checkpoint):
    model, engine = load_faulty_model(tiny_checkpoint("bert"), poison_word="fire")
    server = start_server(
        [model], async_workers=1, async_max_pending=3, async_ttl_seconds=TTL, webhook_backoff_seconds=0.05,
    )
    client = httpx.Client(base_url=server.url, timeout=30)
    yield client, engine
    engine.gate.set()
    client.close()
    server.stop()


def wait(client: httpx.Client, job_id: str, statuses=("SUCCEEDED", "FAILED", "CANCELED"), timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/async/requests/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never reached {statuses}: {job}")


def submit(client: httpx.Client, path: str, body: dict) -> str:
    r = client.post(f"/async{path}", json=body)
    assert r.status_code == 201, r.text
    return r.json()["request_id"]


@pytest.mark.parametrize("path,body", [
    ("/rerank", {"query": "deep learning", "texts": ["a cat", "deep learning", "pizza"], "return_text": True}),
    ("/v2/rerank", {"query": "deep learning", "documents": ["a cat", "deep learning"], "top_n": 1}),
    ("/score", {"text_1": "deep learning", "text_2": ["a cat", "deep learning"]}),
    ("/predict", {"inputs": [["a"], ["b", "c"]]}),
])
def test_job_result_equals_sync_result(jobs_server, path: str, body: dict) -> None:
    client, _ = jobs_server
    job = wait(client, submit(client, path, body))
    assert job["status"] == "SUCCEEDED" and job["route"] == path and job["model"] == "bert-1label"
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]
    sync = client.post(path, json=body).json()
    assert same(job["result"], sync)


def same(a, b) -> bool:
    """Equal JSON, floats within 1e-5, ignoring per-response ids and timestamps."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = set(a) - {"id", "created"}
        return keys == set(b) - {"id", "created"} and all(same(a[k], b[k]) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=1e-5)
    return a == b


def test_failed_job_keeps_its_error(jobs_server) -> None:
    client, _ = jobs_server
    empty = wait(client, submit(client, "/rerank", {"query": "q", "texts": []}))
    assert empty["status"] == "FAILED" and "empty" in empty["error"]["error"]
    assert (empty["error"]["error_type"], empty["error"]["status"]) == ("Empty", 400)
    assert "result" not in empty
    gauge = [line for line in client.get("/metrics").text.splitlines() if line.startswith('rerank_bundle_async_jobs{status="FAILED"}')]
    assert gauge and float(gauge[0].split()[1]) >= 1


def test_cancel_queued_and_running_jobs(jobs_server) -> None:
    client, engine = jobs_server
    engine.gate.clear()
    engine.entered.clear()
    try:
        running = submit(client, "/rerank", {"query": "q", "texts": ["a"]})
        assert engine.entered.wait(10)
        queued = submit(client, "/rerank", {"query": "q", "texts": ["b"]})
        assert client.get(f"/async/requests/{running}").json()["status"] == "IN_PROGRESS"
        assert client.get(f"/async/requests/{queued}").json()["status"] == "QUEUED"
        canceled = client.delete(f"/async/requests/{queued}").json()
        assert canceled == {"request_id": queued, "canceled": True, "status": "CANCELED"}
        assert client.delete(f"/async/requests/{running}").json()["canceled"] is True
        assert client.get("/health").status_code == 200  # jobs never block serving
    finally:
        engine.gate.set()
    assert wait(client, running)["status"] == "CANCELED"
    assert wait(client, queued)["status"] == "CANCELED"
    done = wait(client, submit(client, "/rerank", {"query": "q", "texts": ["c"]}))
    assert done["status"] == "SUCCEEDED"
    assert client.delete(f"/async/requests/{done['request_id']}").json()["canceled"] is False


def test_full_job_queue_is_429(jobs_server) -> None:
    client, engine = jobs_server
    engine.gate.clear()
    try:
        ids = [submit(client, "/rerank", {"query": "q", "texts": [str(i)]}) for i in range(3)]
        full = client.post("/async/rerank", json={"query": "q", "texts": ["x"]})
        assert full.status_code == 429 and full.headers["retry-after"] == "1"
        assert full.json()["error_type"] == "Overloaded"
    finally:
        engine.gate.set()
    assert all(wait(client, i)["status"] == "SUCCEEDED" for i in ids)


def test_finished_jobs_expire_after_ttl(jobs_server) -> None:
    client, _ = jobs_server
    job_id = submit(client, "/rerank", {"query": "q", "texts": ["a"]})
    wait(client, job_id)
    time.sleep(TTL + 0.3)
    gone = client.get(f"/async/requests/{job_id}")
    assert gone.status_code == 404 and gone.json()["error_type"] == "NotFound"
    assert client.get("/async/requests/does-not-exist").status_code == 404
    assert client.delete("/async/requests/does-not-exist").status_code == 404


def test_webhook_delivery_with_retry(jobs_server, receiver: Receiver) -> None:
    client, _ = jobs_server
    receiver.received.clear()
    receiver.script = [503]  # the first attempt fails; the retry lands
    job_id = submit(client, "/v1/rerank", {"query": "q", "documents": ["a", "b"], "webhook_endpoint": receiver.url})
    wait(client, job_id)
    deadline = time.monotonic() + 10
    while client.get(f"/async/requests/{job_id}").json()["webhook"]["status"] == "PENDING" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client.get(f"/async/requests/{job_id}").json()["webhook"] == {"endpoint": receiver.url, "status": "DELIVERED"}
    assert len(receiver.received) == 2
    payload = receiver.received[-1]
    assert payload["request_id"] == job_id and payload["status"] == "SUCCEEDED"
    assert [r["index"] for r in payload["result"]["results"]] in ([0, 1], [1, 0])


def test_webhook_gives_up_after_bounded_attempts(jobs_server, receiver: Receiver) -> None:
    client, _ = jobs_server
    receiver.received.clear()
    receiver.script = [500, 500, 500, 500, 500]
    job_id = submit(client, "/rerank", {"query": "q", "texts": ["a"], "webhook_endpoint": receiver.url})
    wait(client, job_id)
    deadline = time.monotonic() + 10
    while client.get(f"/async/requests/{job_id}").json()["webhook"]["status"] == "PENDING" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client.get(f"/async/requests/{job_id}").json()["webhook"]["status"] == "FAILED"
    assert len(receiver.received) == 3  # webhook_attempts
    receiver.script = []
    unreachable = submit(client, "/rerank", {"query": "q", "texts": ["a"], "webhook_endpoint": "http://127.0.0.1:9/nothing"})
    assert wait(client, unreachable)["status"] == "SUCCEEDED"
    assert client.get("/health").status_code == 200
