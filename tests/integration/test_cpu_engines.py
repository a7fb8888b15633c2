"""OpenVINO and ONNX Runtime, fp32 and int8, built on first load and run through the runtime."""
from __future__ import annotations

import numpy as np
import pytest
from fixtures.engine_cache import building_loader

from rerank_bundle.compile.manifest import artifact_dir, read_manifest

QUERY = "what is deep learning"
DOCS = [
    "deep learning is a subset of machine learning with neural networks",
    "i like pizza",
    "the weather is nice today in paris",
    "python code for a neural network model",
    "the capital of france is paris",
]


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    return tmp_path_factory.mktemp("engine-cache")


@pytest.fixture
def load(catalog_path, cache_root, monkeypatch):
    yield from building_loader(catalog_path, cache_root, monkeypatch)


def _scores(ranker):
    return np.array([d.score for d in sorted(ranker.rerank(QUERY, DOCS), key=lambda d: d.index)])


@pytest.mark.parametrize("target", ["openvino", "onnxruntime"])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_compiled_engine_through_runtime(target, precision, tiny_checkpoint, load, cache_root):
    pytest.importorskip(target)
    path = tiny_checkpoint("bert")
    reference = _scores(load(path, engine="torch", device="cpu", precision="fp32"))
    ranker = load(path, engine=target, precision=precision)
    assert (ranker.engine.name, ranker.engine.dtype) == (target, precision)
    assert ranker.info()["engine_selection"]["chosen"] == f"{target} (cpu, {precision})"
    got = _scores(ranker)
    tolerance = 1e-4 if precision == "fp32" else 3e-2
    assert np.abs(got - reference).max() <= tolerance

    manifest = read_manifest(artifact_dir(cache_root, ranker.spec, target, precision))
    assert manifest is not None and manifest.fidelity is not None
    assert manifest.fidelity["pairs"] == 128 and manifest.fidelity["max_abs_delta"] <= tolerance
    assert manifest.key.libraries[target]
    if precision == "int8":
        assert manifest.key.hardware["isa"] is not None and "calibration" in manifest.key.options


def test_rebuild_is_skipped_when_nothing_changed(tiny_checkpoint, load, cache_root):
    pytest.importorskip("onnxruntime")
    path = tiny_checkpoint("bert")
    first = load(path, engine="onnxruntime", precision="fp32")
    directory = artifact_dir(cache_root, first.spec, "onnxruntime", "fp32")
    stamp = (directory / "model.onnx").stat().st_mtime_ns
    built_at = read_manifest(directory).built_at
    load(path, engine="onnxruntime", precision="fp32")
    assert (directory / "model.onnx").stat().st_mtime_ns == stamp
    assert read_manifest(directory).built_at == built_at


def test_openvino_embedder_matches_torch(tiny_checkpoint, load):
    pytest.importorskip("openvino")
    path = tiny_checkpoint("xlm-roberta", embedder=True)
    texts = ["deep learning", "a much longer text about the weather in paris today", "pizza"]
    want = np.array(load(path, engine="torch", device="cpu", precision="fp32").embed(texts))
    got = np.array(load(path, engine="openvino", precision="fp32").embed(texts))
    assert (want * got).sum(axis=1).min() > 0.9999


@pytest.mark.parametrize("family", ["xlm-roberta", "deberta-v2", "modernbert"])
@pytest.mark.parametrize("target", ["openvino", "onnxruntime"])
def test_every_family_runs_on_compiled_engines(family, target, tiny_checkpoint, load):
    pytest.importorskip(target)
    path = tiny_checkpoint(family)
    reference = _scores(load(path, engine="torch", device="cpu", precision="fp32"))
    assert np.abs(_scores(load(path, engine=target, precision="fp32")) - reference).max() <= 1e-4
