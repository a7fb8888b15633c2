"""The auto chain: order, reasons for every skip, manifest mismatches, precision auto."""
from __future__ import annotations

import json
import logging
import os
import sys

import pytest
from fixtures.engine_cache import building_loader

from rerank_bundle.compile.manifest import MANIFEST_NAME, artifact_dir
from rerank_bundle.errors import EngineUnavailable

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    return tmp_path_factory.mktemp("selection-cache")


@pytest.fixture
def load(catalog_path, cache_root, monkeypatch):
    yield from building_loader(catalog_path, cache_root, monkeypatch)


def _skips(ranker):
    return [(s["engine"], s["reason"]) for s in ranker.info()["engine_selection"]["skipped"]]


def test_auto_chain_order_with_engines_made_unavailable(tiny_checkpoint, load, monkeypatch):
    path = tiny_checkpoint("bert")
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if openvino were not installed
    ranker = load(path, device="cpu", precision="fp32")
    assert ranker.engine.name == "onnxruntime"
    skipped = _skips(ranker)
    assert [n for n, _ in skipped if "/" not in n] == ["tensorrt", "torch-cuda", "openvino"]
    assert dict(skipped)["openvino"].count("pip install") == 1

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    ranker = load(path, device="cpu", precision="fp32")
    assert ranker.engine.name == "torch" and ranker.engine.device == "cpu"
    assert [n for n, _ in _skips(ranker) if "/" not in n] == ["tensorrt", "torch-cuda", "openvino", "onnxruntime"]


def test_gpu_options_come_first_and_say_why_they_were_skipped(tiny_checkpoint, load, monkeypatch):
    monkeypatch.setenv("RERANK_BUNDLE_BUILD", "0")  # nothing cached: CPU engines skip too
    ranker = load(tiny_checkpoint("bert", num_labels=3), precision="fp32")
    reasons = dict(_skips(ranker))
    assert ranker.engine.name == "torch"
    assert list(reasons)[:2] == ["tensorrt", "torch-cuda"]
    assert "TensorRT" in reasons["tensorrt"] and "GPU" in reasons["torch-cuda"]
    assert "no onnxruntime/fp32 artifact" in reasons["onnxruntime"]


def test_explicit_engine_that_cannot_run_is_an_error(tiny_checkpoint, load, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(EngineUnavailable, match="openvino"):
        load(tiny_checkpoint("bert"), engine="openvino", precision="fp32")
    with pytest.raises(EngineUnavailable, match="builds fp32, int8, not fp16"):
        load(tiny_checkpoint("bert"), engine="onnxruntime", precision="fp16")


def test_an_engine_that_crashes_while_loading_is_skipped_under_auto_only(tiny_checkpoint, load, monkeypatch):
    from rerank_bundle.engines import select

    def broken(spec, req):
        raise RuntimeError("driver fault while deserializing")

    monkeypatch.setitem(select._FACTORIES, "openvino", broken)
    monkeypatch.setenv("RERANK_BUNDLE_BUILD", "0")
    ranker = load(tiny_checkpoint("bert"), device="cpu", precision="fp32")
    assert ranker.engine.name in ("onnxruntime", "torch")  # whichever comes next (cached or not)
    assert "failed to load: RuntimeError: driver fault" in dict(_skips(ranker))["openvino"]
    with pytest.raises(RuntimeError, match="driver fault"):
        load(tiny_checkpoint("bert"), engine="openvino", precision="fp32")


def _tamper(directory, **changes):
    path = directory / MANIFEST_NAME
    data = json.loads(path.read_text())
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(json.dumps(data))


def test_manifest_mismatch_is_refused_and_selection_falls_back(tiny_checkpoint, load, cache_root, monkeypatch, caplog):
    path = tiny_checkpoint("bert")
    built = load(path, engine="onnxruntime", precision="fp32")
    directory = artifact_dir(cache_root, built.spec, "onnxruntime", "fp32")
    _tamper(directory, **{"key.libraries": {"onnxruntime": "0.0.1"}})

    monkeypatch.setitem(sys.modules, "openvino", None)
    monkeypatch.setenv("RERANK_BUNDLE_BUILD", "0")
    with caplog.at_level(logging.WARNING):
        ranker = load(path, device="cpu", precision="fp32")
    assert ranker.engine.name == "torch"
    assert "built with onnxruntime 0.0.1" in dict(_skips(ranker))["onnxruntime"]
    assert any("refusing onnxruntime artifact" in r.getMessage() for r in caplog.records)

    monkeypatch.setenv("RERANK_BUNDLE_BUILD", "1")  # allowed to build: the stale artifact is replaced
    ranker = load(path, device="cpu", precision="fp32")
    assert ranker.engine.name == "onnxruntime"
    assert json.loads((directory / MANIFEST_NAME).read_text())["key"]["libraries"]["onnxruntime"] != "0.0.1"


def test_changed_checkpoint_is_refused(tiny_checkpoint, load, cache_root, monkeypatch):
    path = tiny_checkpoint("bert")
    built = load(path, engine="onnxruntime", precision="fp32")
    _tamper(artifact_dir(cache_root, built.spec, "onnxruntime", "fp32"), **{"key.source_sha256": "0" * 64})
    monkeypatch.setenv("RERANK_BUNDLE_BUILD", "0")
    with pytest.raises(EngineUnavailable, match="checkpoint files changed"):
        load(path, engine="onnxruntime", precision="fp32")


def test_precision_auto_takes_the_lowest_precision_that_passes(tiny_checkpoint, load, cache_root):
    path = tiny_checkpoint("bert")
    ranker = load(path, engine="onnxruntime", precision="auto")
    assert ranker.engine.dtype == "int8"  # int8 of the tiny model passes the gate

    directory = artifact_dir(cache_root, ranker.spec, "onnxruntime", "int8")
    _tamper(directory, fidelity_passed=False)  # as if int8 had missed the gate at build time
    ranker = load(path, engine="onnxruntime", precision="auto")
    assert ranker.engine.dtype == "fp32"
    reasons = dict(_skips(ranker))
    assert "misses the gate" in reasons["onnxruntime/int8"]


def test_the_loop_tensorrt_shares_builds_only_what_it_may_and_can_refuse_a_failed_last(tiny_checkpoint, tmp_path):
    """`load_compiled` with the TensorRT loader's options (fp8 never built implicitly; under
    auto even the last plan is passed over when it missed the gate), on ORT artifacts here."""
    from fixtures.gpu_helpers import spec_for

    from rerank_bundle.engines.cpu_compiled import load_compiled
    from rerank_bundle.engines.onnxruntime_engine import OnnxRuntimeEngine

    spec = spec_for(tiny_checkpoint("bert"), "tiny-bert-loop")

    def load_with(last_is_reference, skipped=None, allow_build=True):
        return load_compiled(
            spec, target="onnxruntime", candidates=("int8", "fp32"), auto=True, cache_dir=tmp_path,
            construct=lambda name, artifact: OnnxRuntimeEngine(artifact.path("model.onnx"), spec=spec, precision=name),
            allow_build=allow_build, skipped=skipped, may_build=lambda name: name == "fp32",
            last_is_reference=last_is_reference,
        )

    skipped: list = []
    engine = load_with(False, skipped)
    assert engine.dtype == "fp32"
    engine.close()
    assert [n for n, _ in skipped] == ["onnxruntime/int8"] and "no onnxruntime/int8 artifact" in skipped[0][1]
    assert not artifact_dir(tmp_path, spec, "onnxruntime", "int8").exists()  # not built: may_build said no

    _tamper(artifact_dir(tmp_path, spec, "onnxruntime", "fp32"), fidelity_passed=False)
    with pytest.raises(EngineUnavailable, match="fp32: fidelity vs torch fp32 misses the gate"):
        load_with(False, allow_build=False)
    engine = load_with(True, allow_build=False)
    assert engine.dtype == "fp32"  # the CPU rule: fp32 is the reference, used even so
    engine.close()


def test_read_only_cache_serves_its_artifacts_and_new_builds_go_elsewhere(tiny_checkpoint, load, monkeypatch, tmp_path):
    from rerank_bundle.compile import manifest

    path, configured = tiny_checkpoint("bert"), tmp_path / "volume"
    monkeypatch.setenv("RERANK_BUNDLE_CACHE", str(configured))
    built = load(path, engine="onnxruntime", precision="fp32")  # pre-built while still writable
    prebuilt = artifact_dir(configured, built.spec, "onnxruntime", "fp32") / MANIFEST_NAME
    stamp = prebuilt.read_text()

    # Now the volume refuses writes (as root only a read-only mount does, so the probe says it).
    probe = manifest.unwritable
    monkeypatch.setattr(manifest, "unwritable", lambda root: "OSError: Read-only file system" if root == configured else probe(root))
    monkeypatch.setattr(manifest, "_FALLBACK_LOGGED", set())
    monkeypatch.setattr(manifest.tempfile, "tempdir", str(tmp_path / "tmp"))
    fallback = tmp_path / "tmp" / f"rerank-bundle-cache-{os.getuid()}"
    ranker = load(path, engine="onnxruntime", precision="fp32")
    assert ranker.engine.dtype == "fp32" and prebuilt.read_text() == stamp  # used as is, not rebuilt
    assert not artifact_dir(fallback, ranker.spec, "onnxruntime", "fp32").exists()
    ranker = load(path, engine="onnxruntime", precision="int8")  # not pre-built: built in the temp cache
    assert ranker.engine.dtype == "int8"
    assert (artifact_dir(fallback, ranker.spec, "onnxruntime", "int8") / MANIFEST_NAME).is_file()
    assert not artifact_dir(configured, ranker.spec, "onnxruntime", "int8").exists()
