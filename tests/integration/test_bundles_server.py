"""The default (docker_server) variant: the bundle's start command, run as the image runs it.

truss renders the bundle's image context; the command supervisord would start is read from
that context's supervisord.conf and executed unchanged, with the image's layout rebuilt in
a temp folder (APP_HOME with config.yaml, a tiny checkpoint as model_cache/<name>,
PYTHONPATH at the context's packages/ as /packages). Only RERANK_BUNDLE_HOST/PORT are set,
so the server binds 127.0.0.1 on a free port. Then /health, /rerank, /predict and
/v2/rerank are called and compared with the runtime.
"""
from __future__ import annotations

import configparser
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import httpx
import pytest

from fixtures.bundles import app_dir, build_context, drop_weights_cache, python_blocks, render_bundle
from rerank_bundle.bundles.settings import read_bundle_dir

pytest.importorskip("truss", reason="truss==0.18.35 is a dev dependency")
pytest.importorskip(
    "rerank_bundle.server",
    reason="rerank_bundle.server (the HTTP server behind `rerank-bundle serve`) is not in this checkout yet",
)
NAME = "ms-marco-minilm-l-6-v2"
QUERY = "what is deep learning"
DOCS = ["deep learning is a subset of machine learning", "i like pizza", "the weather is nice today"]


class Served(NamedTuple):
    base: str  # http://127.0.0.1:<port>
    app: Path  # the image's /app, rebuilt
    bundle: Path  # the rendered bundle (its README)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_command(context: Path) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(context / "supervisord.conf")
    return shlex.split(parser["program:model-server"]["command"])  # supervisord splits, no shell


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Callable[..., Path]) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("server-bundle")
    bundle = render_bundle(tmp, NAME)
    drop_weights_cache(bundle)  # the tiny checkpoint stands in for what truss-transfer-cli would fetch
    context = build_context(bundle, tmp / "context", tmp / "truss-home")
    app = app_dir(context, tmp / "app", weights=tiny_checkpoint("bert"), with_truss_server=False)
    port = _free_port()
    env = dict(
        os.environ, APP_HOME=str(app), PYTHONPATH=str(context / "packages"), RERANK_BUNDLE_HOST="127.0.0.1",
        RERANK_BUNDLE_PORT=str(port), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.pop("RERANK_BUNDLE_CATALOG", None)  # the command must set it to the bundle's config itself
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(_start_command(context), cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp / "server.log").read_text()[-4000:]
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp / "server.log").read_text()[-4000:]
            time.sleep(0.3)
        yield Served(base, app, bundle)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def ranker(served: Served):
    from rerank_bundle.service import Reranker

    ranker = Reranker.load(read_bundle_dir(served.app))  # the same cached weights the server loaded
    yield ranker
    ranker.close()


def test_health(served: Served) -> None:
    assert httpx.get(f"{served.base}/health", timeout=10).status_code == 200


def test_rerank(served: Served, ranker) -> None:
    resp = httpx.post(f"{served.base}/rerank", json={"query": QUERY, "texts": DOCS, "return_text": True}, timeout=30)
    assert resp.status_code == 200, resp.text
    expected = ranker.rerank(QUERY, DOCS, return_text=True)
    assert [r["index"] for r in resp.json()] == [r.index for r in expected]
    assert [r["score"] for r in resp.json()] == pytest.approx([r.score for r in expected], abs=1e-5)
    assert [r["text"] for r in resp.json()] == [r.text for r in expected]


def test_predict(served: Served, ranker) -> None:
    resp = httpx.post(f"{served.base}/predict", json={"inputs": [[QUERY, d] for d in DOCS]}, timeout=30)
    assert resp.status_code == 200, resp.text
    expected = ranker.predict([(QUERY, d) for d in DOCS])
    assert [row[0]["score"] for row in resp.json()] == pytest.approx([row[0].score for row in expected], abs=1e-5)
    assert [row[0]["label"] for row in resp.json()] == [row[0].label for row in expected]


def test_cohere_v2_rerank(served: Served, ranker) -> None:
    body = {"model": NAME, "query": QUERY, "documents": DOCS, "top_n": 2}
    resp = httpx.post(f"{served.base}/v2/rerank", json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    expected = ranker.rerank(QUERY, DOCS, top_n=2)
    results = resp.json()["results"]
    assert [r["index"] for r in results] == [r.index for r in expected]
    assert [r["relevance_score"] for r in results] == pytest.approx([r.score for r in expected], abs=1e-5)


def test_readme_snippets_run_unchanged_against_the_server(served: Served, capsys, monkeypatch) -> None:
    # The bundle README's requests, baseten-performance-client and cohere snippets, with
    # only Baseten's base URL pointed at this server (no auth configured, so any key).
    baseten = "f\"https://model-{os.environ['MODEL_ID']}.api.baseten.co/environments/production/sync\""
    monkeypatch.setenv("MODEL_ID", "local")
    monkeypatch.setenv("BASETEN_API_KEY", "unused")
    blocks = python_blocks((served.bundle / "README.md").read_text())
    assert len(blocks) == 3
    for block in blocks:
        assert baseten in block
        exec(compile(block.replace(baseten, repr(served.base)), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "'index': " in out and "relevance_score=" in out  # requests' JSON, then cohere's results
