"""The Python-model variant: a bundle's model/model.py loaded by truss's own server.

The bundle is rendered as `bundle_variant: python`, its image context built by truss, and
the image's /app rebuilt from that context with a tiny local checkpoint in place of the
cached weights. truss's server (TrussServer.create_application() under a test client)
then loads model.py, which waits on lazy_data_resolver and loads the runtime from the
context's /packages copy. Answers are compared with the same runtime called directly.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from fixtures.bundles import app_dir, build_context, drop_weights_cache, render_bundle
from rerank_bundle.bundles.settings import read_bundle_dir

pytest.importorskip("truss", reason="truss==0.18.35 is a dev dependency")
RUNNER = Path(__file__).resolve().parents[1] / "fixtures" / "truss_inprocess.py"
PREDICT = "/v1/models/model:predict"
QUERY = "what is deep learning"
DOCS = ["deep learning is a subset of machine learning", "i like pizza", "the weather is nice today"]


def _serve_python_bundle(
    tmp: Path, name: str, requests: list[dict[str, Any]], weights: Path | None, *, drop_env: tuple[str, ...] = ()
) -> tuple[Path, list, str | None]:
    """-> (the rebuilt /app, the responses, RERANK_BUNDLE_CACHE as model.py left it)."""
    bundle = render_bundle(tmp, name, variant="python")
    drop_weights_cache(bundle)  # the tiny checkpoint stands in for what model_cache would fetch
    context = build_context(bundle, tmp / "context", tmp / "truss-home")
    app = app_dir(context, tmp / "app", weights=weights, with_truss_server=True)
    env = dict(os.environ, PYTHONPATH=str(context / "packages"))  # the image's /packages
    for key in drop_env:
        env.pop(key, None)
    proc = subprocess.run(
        [sys.executable, str(RUNNER), str(app), json.dumps(requests)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULTS ")]
    assert proc.returncode == 0 and lines, proc.stdout[-2000:] + proc.stderr[-4000:]
    output = json.loads(lines[-1].removeprefix("RESULTS "))
    # model.py ran the runtime truss copied from src/ into the image, not this checkout's.
    assert Path(output["rerank_bundle"]).is_relative_to(context / "packages"), output["rerank_bundle"]
    return app, output["responses"], output["engine_cache"]


@pytest.fixture(scope="module")
def reranker_bundle(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Callable[..., Path]):
    requests = [
        {"method": "POST", "path": PREDICT, "json": {"query": QUERY, "texts": DOCS, "return_text": True}},
        {"method": "POST", "path": PREDICT, "json": {"inputs": [[QUERY, d] for d in DOCS]}},
        {"method": "POST", "path": PREDICT, "json": {"inputs": [QUERY, DOCS[0]], "raw_scores": True}},
        {"method": "POST", "path": PREDICT, "json": {"model": "m", "query": QUERY, "documents": DOCS, "top_n": 2}},
        {"method": "POST", "path": PREDICT, "json": {"query": QUERY, "texts": []}},
        {"method": "POST", "path": PREDICT, "json": {"prompt": "not a rerank payload"}},
        {"method": "GET", "path": "/v1/models/model"},
    ]
    tmp = tmp_path_factory.mktemp("python-bundle")
    # As in a deployment, nothing sets RERANK_BUNDLE_CACHE: model.py points it at the volume
    # (RERANK_BUNDLE_BUILD=0 stays, so nothing is built or written there).
    app, results, engine_cache = _serve_python_bundle(
        tmp, "bge-reranker-base", requests, tiny_checkpoint("xlm-roberta"), drop_env=("RERANK_BUNDLE_CACHE",)
    )
    assert engine_cache and Path(engine_cache) == app.resolve() / "model_cache/bge-reranker-base/.rerank-bundle-engines"
    from rerank_bundle.service import Reranker

    ranker = Reranker.load(read_bundle_dir(app))  # the cached weights, as model.py loads them
    yield ranker, results
    ranker.close()


def test_rerank_payload_answers_like_the_runtime(reranker_bundle) -> None:
    ranker, results = reranker_bundle
    assert ranker.spec.architecture == "XLMRobertaForSequenceClassification"  # the tiny checkpoint
    expected = ranker.rerank(QUERY, DOCS, return_text=True)
    first = results[0]
    assert first["status"] == 200 and first["content_type"] == "application/json"
    assert [r["index"] for r in first["body"]] == [r.index for r in expected]
    assert [r["text"] for r in first["body"]] == [DOCS[r.index] for r in expected]
    assert [r["score"] for r in first["body"]] == pytest.approx([r.score for r in expected], abs=1e-5)


def test_predict_payloads_answer_like_the_runtime(reranker_bundle) -> None:
    ranker, results = reranker_bundle
    batch, single = results[1], results[2]
    expected = ranker.predict([(QUERY, d) for d in DOCS])
    assert batch["status"] == 200
    assert [[p["label"] for p in row] for row in batch["body"]] == [[p.label for p in row] for row in expected]
    assert [row[0]["score"] for row in batch["body"]] == pytest.approx([row[0].score for row in expected], abs=1e-5)
    raw = ranker.predict([(QUERY, DOCS[0])], raw_scores=True)[0]
    assert single["status"] == 200 and single["body"][0]["score"] == pytest.approx(raw[0].score, abs=1e-5)


def test_cohere_payload_gets_the_cohere_shape(reranker_bundle) -> None:
    ranker, results = reranker_bundle
    body = results[3]["body"]
    expected = ranker.rerank(QUERY, DOCS, top_n=2)
    assert results[3]["status"] == 200
    assert [r["index"] for r in body["results"]] == [r.index for r in expected]
    assert [r["relevance_score"] for r in body["results"]] == pytest.approx([r.score for r in expected], abs=1e-5)
    assert body["meta"]["api_version"] == {"version": "2"}


def test_errors_are_json_with_the_contract_status(reranker_bundle) -> None:
    _, results = reranker_bundle
    empty, unknown, ready = results[4], results[5], results[6]
    assert (empty["status"], empty["body"]["error_type"]) == (400, "Empty")
    assert (unknown["status"], unknown["body"]["error_type"]) == (422, "Validation")
    assert "query, texts" in unknown["body"]["error"]
    assert ready["status"] == 200


def test_embedder_bundle_serves_openai_embeddings(tmp_path: Path) -> None:
    # The embedded default (weights from its pip package): /v1/embeddings reaches
    # Model.embeddings, and a TEI rerank payload is scored by cosine similarity.
    requests = [
        {"method": "POST", "path": "/v1/embeddings", "json": {"input": ["hello world", "bonjour"], "model": "x"}},
        {"method": "POST", "path": PREDICT, "json": {"query": QUERY, "texts": DOCS}},
    ]
    _, results, _ = _serve_python_bundle(tmp_path, "all-minilm-l6-v2", requests, weights=None)
    embeddings, rerank = results
    assert embeddings["status"] == 200 and embeddings["body"]["object"] == "list"
    vectors = [d["embedding"] for d in embeddings["body"]["data"]]
    assert len(vectors) == 2 and len(vectors[0]) == 384
    assert sum(x * x for x in vectors[0]) == pytest.approx(1.0, abs=1e-4)
    assert embeddings["body"]["usage"]["prompt_tokens"] > 0
    assert rerank["status"] == 200 and rerank["body"][0]["index"] == 0  # real MiniLM: the on-topic text wins
