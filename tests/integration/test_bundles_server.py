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
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import httpx
import pytest

from fixtures.bundles import app_dir, build_context, drop_weights_cache, python_blocks, render_bundle
from rerank_bundle.bench.http_load import free_port, serve_subprocess
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


def _start_command(context: Path) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(context / "supervisord.conf")
    return shlex.split(parser["program:model-server"]["command"])  # supervisord splits, no shell


@contextmanager
def _running(tmp: Path, context: Path, app: Path, log_name: str = "server.log", **env_changes: str | None) -> Iterator[str]:
    """Run the bundle's start command unchanged as supervisord would; yields its base URL once
    /health answers. `env_changes` set (or, with None, remove) variables of the test's env."""
    port = free_port()
    env = dict(
        os.environ, APP_HOME=str(app), PYTHONPATH=str(context / "packages"), RERANK_BUNDLE_HOST="127.0.0.1",
        RERANK_BUNDLE_PORT=str(port), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.pop("RERANK_BUNDLE_CATALOG", None)  # the command must set it to the bundle's config itself
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    with serve_subprocess(_start_command(context), port=port, log_path=tmp / log_name, env=env, cwd=tmp):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Callable[..., Path]) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("server-bundle")
    bundle = render_bundle(tmp, NAME)
    drop_weights_cache(bundle)  # the tiny checkpoint stands in for what truss-transfer-cli would fetch
    context = build_context(bundle, tmp / "context", tmp / "truss-home")
    app = app_dir(context, tmp / "app", weights=tiny_checkpoint("bert"), with_truss_server=False)
    with _running(tmp, context, app) as base:
        yield Served(base, app, bundle)


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


BROKEN = "raise OSError('lib{name}.so: undefined symbol (a broken install, planted by the test)')\n"


def test_start_with_broken_engine_libraries_still_serves_with_torch(
    tmp_path: Path, tiny_checkpoint: Callable[..., Path], ranker
) -> None:
    # Production settings: building allowed, the engine cache where the start command puts it
    # (beside the weights). OpenVINO and ONNX Runtime are installed but crash on import, as
    # a wheel with a bad shared library does: every compiled engine fails to build, and the
    # server must still come up on torch and say why in /info.
    bundle = render_bundle(tmp_path, NAME)
    drop_weights_cache(bundle)
    context = build_context(bundle, tmp_path / "context", tmp_path / "truss-home")
    app = app_dir(context, tmp_path / "app", weights=tiny_checkpoint("bert"), with_truss_server=False, copy_weights=True)
    broken = tmp_path / "broken"
    for library in ("openvino", "onnxruntime"):
        (broken / library).mkdir(parents=True)
        (broken / library / "__init__.py").write_text(BROKEN.format(name=library))
    pythonpath = f"{context / 'packages'}{os.pathsep}{broken}"  # the command prepends /packages
    with _running(tmp_path, context, app, PYTHONPATH=pythonpath, RERANK_BUNDLE_BUILD="1", RERANK_BUNDLE_CACHE=None) as base:
        info = httpx.get(f"{base}/info", timeout=10).json()
        resp = httpx.post(f"{base}/rerank", json={"query": QUERY, "texts": DOCS}, timeout=30)
    (model,) = info["models"]
    assert model["engine"] == "torch", model["engine_selection"]
    skipped = {s["engine"]: s["reason"] for s in model["engine_selection"]["skipped"]}
    for attempt in ("openvino/int8", "openvino/fp32", "onnxruntime/int8", "onnxruntime/fp32"):
        assert "build failed: OSError" in skipped[attempt] and "broken install" in skipped[attempt], skipped
    assert resp.status_code == 200, resp.text
    expected = ranker.rerank(QUERY, DOCS)
    assert [r["score"] for r in resp.json()] == pytest.approx([r.score for r in expected], abs=1e-5)
    # The builds ran in the engine cache beside the cached weights (the per-model build lock).
    assert (app / "model_cache" / NAME / ".rerank-bundle-engines" / NAME / ".build.lock").is_file()


@pytest.mark.slow
def test_first_start_builds_beside_the_weights_and_a_restart_reuses_it(
    tmp_path: Path, tiny_checkpoint: Callable[..., Path]
) -> None:
    # The CPU bundle path as deployed: building allowed, RERANK_BUNDLE_CACHE left to the
    # start command. The first start builds OpenVINO (fp32 keeps the build short) into the
    # weights volume; a restart of the same /app loads that artifact without building.
    bundle = render_bundle(tmp_path, NAME, accelerator="cpu", precision="fp32")
    drop_weights_cache(bundle)
    context = build_context(bundle, tmp_path / "context", tmp_path / "truss-home")
    app = app_dir(context, tmp_path / "app", weights=tiny_checkpoint("bert"), with_truss_server=False, copy_weights=True)
    manifest = app / "model_cache" / NAME / ".rerank-bundle-engines" / NAME / "openvino-fp32" / "manifest.json"
    engines = []
    for start in ("first", "restart"):
        with _running(tmp_path, context, app, f"{start}.log", RERANK_BUNDLE_BUILD="1", RERANK_BUNDLE_CACHE=None) as base:
            (model,) = httpx.get(f"{base}/info", timeout=10).json()["models"]
            engines.append((model["engine"], model["dtype"]))
            assert httpx.post(f"{base}/rerank", json={"query": QUERY, "texts": DOCS}, timeout=30).status_code == 200
        if start == "first":
            assert manifest.is_file(), (tmp_path / "first.log").read_text()[-3000:]
            built = manifest.read_text()
    assert engines == [("openvino", "fp32")] * 2
    assert manifest.read_text() == built  # not rebuilt
    bar = f"build {NAME} → openvino/fp32"  # the build's progress bar, on stderr at any log level
    assert bar in (tmp_path / "first.log").read_text()
    assert bar not in (tmp_path / "restart.log").read_text()
