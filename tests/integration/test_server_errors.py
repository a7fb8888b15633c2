"""Bad input never hurts the server: every bad body gets a 4xx JSON error and the server
keeps answering. Inference crashes fail only their batch (424); overload is 429."""
from __future__ import annotations

import concurrent.futures
import socket
import time

import httpx
import pytest

from fixtures.live_server import load_faulty_model, start_server

pytestmark = pytest.mark.timeout(180)

LONG = "x" * 400_000
NESTED = "[" * 5000 + "]" * 5000

# (route, raw body or JSON-able body, expected status)
BAD_BODIES = [
    ("/rerank", {"query": "q"}, 422),                                    # missing texts
    ("/rerank", {"texts": ["a"]}, 422),                                  # missing query
    ("/rerank", {"query": "q", "texts": []}, 400),                       # empty list
    ("/rerank", {"query": None, "texts": ["a"]}, 422),                   # null
    ("/rerank", {"query": "q", "texts": None}, 422),
    ("/rerank", {"query": 5, "texts": ["a"]}, 422),                      # wrong types
    ("/rerank", {"query": "q", "texts": "a"}, 422),
    ("/rerank", {"query": "q", "texts": [1, 2]}, 422),
    ("/rerank", {"query": "q", "texts": [["a"]]}, 422),
    ("/rerank", {"query": "q", "texts": ["a"], "raw_scores": "yes"}, 422),
    ("/rerank", {"query": "q", "texts": ["a"], "top_n": -1}, 422),       # negative top_n
    ("/rerank", {"query": "q", "texts": ["a"], "top_n": 1.5}, 422),
    ("/rerank", {"query": "q", "texts": ["a"], "truncation_direction": "up"}, 422),
    ("/rerank", {"query": "q", "texts": ["a"] * 10_000}, 413),           # 10k documents
    ("/rerank", {"query": LONG, "texts": [LONG] * 5}, 413),              # 2.4 MB body
    ("/rerank", {"query": {"$gt": ""}, "texts": ["a"]}, 422),            # nested garbage
    ("/rerank", [], 422),                                                # not an object
    ("/rerank", "just a string", 422),
    ("/rerank", None, 422),
    ("/rerank", b"", 422),                                               # empty body
    ("/rerank", b"{not json", 422),                                      # malformed JSON
    ("/rerank", b'{"query": "q", "texts": ["\xff\xfe"]}', 422),         # invalid UTF-8
    ("/rerank", NESTED.encode(), 422),                                   # deep nesting
    ("/rerank", b'{"query": "q", "texts": ["a"]', 422),                 # truncated JSON
    ("/predict", {"inputs": []}, 400),
    ("/predict", {"inputs": [["a", "b", "c"]]}, 422),                    # triple in a batch
    ("/predict", {"inputs": [[]]}, 422),
    ("/predict", {"inputs": 3}, 422),
    ("/embed", {"inputs": []}, 400),
    ("/embed", {"inputs": "a", "dimensions": "ten"}, 422),
    ("/v1/embeddings", {"input": []}, 400),
    ("/v1/embeddings", {"input": ["a"], "encoding_format": "int8"}, 422),
    ("/v1/rerank", {"query": "q", "documents": [{"title": "no text"}]}, 422),
    ("/v1/rerank", {"query": "q", "documents": ["a"], "max_chunks_per_doc": 0}, 422),
    ("/v1/rerank", {"query": "q", "documents": [42]}, 422),
    ("/v2/rerank", {"query": "q", "documents": []}, 400),
    ("/v2/rerank", {"query": "q", "documents": ["a"], "max_tokens_per_doc": -5}, 422),
    ("/v3/rerank", {"query": "q", "documents": ["a"], "return_documents": "please"}, 422),
    ("/score", {"text_1": ["a", "b"], "text_2": ["a", "b", "c"]}, 422),
    ("/score", {"text_1": "a", "text_2": []}, 400),
    ("/v1/score", {"text_1": None, "text_2": "b"}, 422),
    ("/v1/ranking", {"query": "not an object", "passages": [{"text": "a"}]}, 422),
    ("/v1/ranking", {"query": {"text": "q"}, "passages": []}, 400),
    ("/v1/ranking", {"query": {"text": "q"}, "passages": [{"txt": "a"}]}, 422),
    ("/v1/ranking", {"query": {"text": 7}, "passages": [{}]}, 422),
    ("/async/rerank", {"query": "q", "texts": ["a"], "webhook_endpoint": "ftp://example"}, 422),
    ("/async/rerank", {"query": 1, "texts": ["a"]}, 422),
]


def post(client: httpx.Client, path: str, body) -> httpx.Response:
    if isinstance(body, bytes):
        return client.post(path, content=body, headers={"content-type": "application/json"})
    return client.post(path, json=body)


@pytest.mark.parametrize("path,body,status", BAD_BODIES, ids=[f"{i}-{p}" for i, (p, _, _) in enumerate(BAD_BODIES)])
def test_bad_body_is_a_json_4xx(multi: httpx.Client, path: str, body, status: int) -> None:
    r = post(multi, path, body)
    assert r.status_code == status, r.text[:300]
    assert r.headers["content-type"] == "application/json"
    error = r.json()
    assert set(error) == {"error", "error_type"} and error["error"]
    assert len(error["error"]) < 2000  # errors never echo huge inputs back
    assert multi.get("/health").status_code == 200


def test_error_messages_name_the_field(multi: httpx.Client) -> None:
    cases = [
        ("/rerank", {"query": "q", "texts": [1]}, "texts.0: Input should be a valid string"),
        ("/v1/ranking", {"query": "x", "passages": [{}]}, "passages.0.text: Field required"),
        ("/rerank", {"query": "q", "texts": ["a"], "truncation_direction": "up"}, "'Left' or 'Right'"),
        ("/rerank", [1], "the body must be a JSON object"),
    ]
    for path, body, expected in cases:
        assert expected in multi.post(path, json=body).json()["error"]


def test_protocol_level_errors_are_json(multi: httpx.Client, multi_server) -> None:
    form = multi.post("/rerank", content=b"query=q", headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 422 and "Content-Type" in form.json()["error"]
    assert multi.get("/rerank").status_code == 405 and multi.get("/rerank").json()["error_type"]
    assert multi.get("/nowhere").status_code == 404 and multi.get("/nowhere").json()["error_type"] == "NotFound"
    assert multi.get("/health").status_code == 200


def test_declared_oversize_is_refused_before_reading(multi_server) -> None:
    head = b"POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n\r\n{"
    with socket.create_connection(("127.0.0.1", multi_server.port), timeout=10) as sock:
        sock.sendall(head)  # 100 MB announced, one byte sent: the answer must not wait for the rest
        reply = read_response(sock)
    assert reply.startswith(b"HTTP/1.1 413") and b'"error_type":"PayloadTooLarge"' in reply


def read_response(sock: socket.socket) -> bytes:
    """Headers and a Content-Length body off a raw socket (they may come in several segments)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def test_oversize_chunked_body_is_refused_while_streaming(multi: httpx.Client) -> None:
    sent = 0

    def chunks():  # no Content-Length: the server must count as the body streams in
        nonlocal sent
        yield b'{"query": "q", "texts": ["'
        for _ in range(64):
            sent += 65536
            yield b"a" * 65536
        yield b'"]}'

    r = multi.post("/rerank", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error_type"] == "PayloadTooLarge"
    assert multi.get("/health").status_code == 200


def test_raw_socket_garbage_does_not_hurt(multi_server) -> None:
    garbage = (b"NOT HTTP AT ALL\r\n\r\n", b"POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{", b"\x00\xff" * 100)
    for payload in garbage:
        with socket.create_connection(("127.0.0.1", multi_server.port), timeout=5) as sock:
            sock.sendall(payload)
            try:
                sock.shutdown(socket.SHUT_WR)
                sock.recv(1024)
            except OSError:
                pass
    assert httpx.get(f"{multi_server.url}/health").status_code == 200


@pytest.fixture(scope="module")
def faulty(tiny_checkpoint):
    model, engine = load_faulty_model(
        tiny_checkpoint("bert"), poison_word="fire", max_queue_requests=2, max_client_batch_size=50
    )
    server = start_server([model])
    yield server, engine
    engine.gate.set()
    server.stop()


def test_inference_crash_is_424_for_that_batch_only(faulty) -> None:
    server, engine = faulty
    with httpx.Client(base_url=server.url, timeout=60) as client:
        crashed = client.post("/rerank", json={"query": "q", "texts": ["the fire is big"]})
        assert crashed.status_code == 424
        assert crashed.json()["error_type"] == "Backend" and "injected engine fault" in crashed.json()["error"]
        for _ in range(3):  # the worker survived: later batches run normally
            ok = client.post("/rerank", json={"query": "q", "texts": ["the water is cold", "a cat"]})
            assert ok.status_code == 200 and len(ok.json()) == 2
        async_crash = client.post("/async/v2/rerank", json={"query": "fire", "documents": ["a"]}).json()["request_id"]
        job = wait_for_job(client, async_crash)
        assert job["status"] == "FAILED" and job["error"]["status"] == 424
        assert client.get("/health").status_code == 200
        assert 'error_type="Backend"' in client.get("/metrics").text


def wait_for_job(client: httpx.Client, job_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/async/requests/{job_id}").json()
        if job["status"] in ("SUCCEEDED", "FAILED", "CANCELED"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_overload_is_429_with_retry_after(faulty) -> None:
    server, engine = faulty
    engine.gate.clear()
    engine.entered.clear()
    body = {"query": "q", "texts": ["a cat"]}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        try:
            held = [pool.submit(httpx.post, f"{server.url}/rerank", json=body, timeout=60)]
            assert engine.entered.wait(10), "first request never reached the engine"
            held.append(pool.submit(httpx.post, f"{server.url}/rerank", json=body, timeout=60))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # wait until the second one sits in the queue
                if 'rerank_bundle_queue_size{model="bert-1label"} 2.0' in httpx.get(f"{server.url}/metrics").text:
                    break
                time.sleep(0.02)
            rejected = httpx.post(f"{server.url}/rerank", json=body, timeout=10)
            assert rejected.status_code == 429
            assert rejected.headers["retry-after"] == "1" and rejected.json()["error_type"] == "Overloaded"
        finally:
            engine.gate.set()
        assert [f.result().status_code for f in held] == [200, 200]
    assert httpx.post(f"{server.url}/rerank", json=body).status_code == 200


def test_too_many_items_is_413(faulty) -> None:
    server, _ = faulty
    r = httpx.post(f"{server.url}/rerank", json={"query": "q", "texts": ["a"] * 51})
    assert r.status_code == 413 and "max_client_batch_size" in r.json()["error"]
