"""Manifest round trip and mismatch reasons; fidelity metrics; calibration files. No torch."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from rerank_bundle.compile.calibration import builtin_calibration_pairs, evaluation_groups, load_calibration_file
from rerank_bundle.compile.fidelity import Fidelity, FidelityGate, GroupOutputs, compare, spearman, topk_overlap
from rerank_bundle.compile.manifest import BuildKey, Manifest, mismatch, read_manifest
from rerank_bundle.errors import ConfigError
from rerank_bundle.types import ModelKind


def _key(**changes):
    base = dict(source_sha256="ab" * 32, target="openvino", precision="int8", libraries={"openvino": "2026.4.1"},
                hardware={"isa": ["avx2", "avx512_vnni"]}, options={"builder": 1, "opset": 20})
    return BuildKey(**{**base, **changes})


def _manifest(tmp_path, key):
    (tmp_path / "model.xml").write_text("<net/>")
    manifest = Manifest(model="m", kind="rerank", source={"checkpoint": "x"}, key=key, files=["model.xml"])
    manifest.write(tmp_path)
    return read_manifest(tmp_path)


def test_round_trip_keeps_the_cache_key(tmp_path):
    found = _manifest(tmp_path, _key())
    assert found.key == _key() and found.cache_key == _key().digest()
    assert json.loads((tmp_path / "manifest.json").read_text())["cache_key"] == found.cache_key
    assert mismatch(found, _key(), tmp_path) is None


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"source_sha256": "cd" * 32}, "checkpoint files changed"),
        ({"libraries": {"openvino": "2027.0.0"}}, "built with openvino 2026.4.1, running 2027.0.0"),
        ({"hardware": {"isa": ["avx2"]}}, "this machine has ['avx2']"),
        ({"precision": "fp32"}, "built as openvino/int8, wanted openvino/fp32"),
        ({"options": {"builder": 2, "opset": 20}}, "build options differ"),
    ],
)
def test_mismatch_says_why(tmp_path, changes, words):
    found = _manifest(tmp_path, _key())
    assert words in mismatch(found, _key(**changes), tmp_path)


def test_missing_artifact_file_is_a_mismatch(tmp_path):
    found = _manifest(tmp_path, _key())
    (tmp_path / "model.xml").unlink()
    assert "missing: model.xml" in mismatch(found, _key(), tmp_path)


def test_unreadable_manifest_counts_as_absent(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    assert read_manifest(tmp_path) is None


def test_ranking_metrics():
    a = np.array([0.9, 0.1, 0.5, 0.3])
    assert spearman(a, a * 2) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert topk_overlap(np.arange(20.0), np.arange(20.0)[::-1], 10) == 0.0
    assert topk_overlap(np.arange(20.0), np.arange(20.0) ** 2, 10) == 1.0


def test_compare_and_gate():
    ref = GroupOutputs(scores=[np.linspace(0, 1, 16)], rows=[np.linspace(0, 1, 16)[:, None]])
    near = GroupOutputs(scores=[ref.scores[0] + 0.001], rows=[ref.rows[0] + 0.001])
    fid = compare(ref, near, kind=ModelKind.RERANK)
    assert fid.passes() and fid.max_abs_delta == pytest.approx(0.001, abs=1e-6) and fid.top10_agreement == 1.0
    far = GroupOutputs(scores=[ref.scores[0][::-1].copy()], rows=[ref.rows[0][::-1].copy()])
    bad = compare(ref, far, kind=ModelKind.RERANK)
    assert not bad.passes() and bad.spearman == pytest.approx(-1.0)
    assert Fidelity.from_dict(bad.as_dict()) == bad
    assert not fid.passes(FidelityGate(max_abs_delta=1e-4))


def test_builtin_sets_are_disjoint_and_well_formed():
    groups = evaluation_groups()
    assert len(groups) == 16 and all(len(g.documents) == 16 and len(g.relevant) == 3 for g in groups)
    calibration_queries = {q for q, _ in builtin_calibration_pairs()}
    assert not calibration_queries & {g.query for g in groups}
    assert len(builtin_calibration_pairs()) >= 100


def test_calibration_files(tmp_path):
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text('{"query": "q1", "document": "d1"}\n{"query": "q2", "document": "d2"}\n')
    assert load_calibration_file(jsonl) == [("q1", "d1"), ("q2", "d2")]
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("q\td\n")
    assert load_calibration_file(tsv) == [("q", "d")]
    texts = tmp_path / "texts.txt"
    texts.write_text("one\ntwo\n")
    assert load_calibration_file(texts) == ["one", "two"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"foo": 1}\n')
    with pytest.raises(ConfigError):
        load_calibration_file(bad)


def test_unwritable_cache_falls_back_to_a_temp_dir_and_says_why_once(tmp_path, monkeypatch, caplog):
    from rerank_bundle.compile import manifest

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    wanted = blocker / "engines"  # cannot be created, even as root (a read-only mount acts the same)
    monkeypatch.setenv("RERANK_BUNDLE_CACHE", str(wanted))
    monkeypatch.setattr(manifest, "_FALLBACK_LOGGED", set())
    monkeypatch.setattr(manifest.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    with caplog.at_level("WARNING", logger=manifest.__name__):
        first, second = manifest.cache_root(), manifest.cache_root()
    assert first == second == tmp_path / "tmp" / f"rerank-bundle-cache-{os.getuid()}"
    assert manifest.unwritable(first) is None and first.is_dir()  # builds can go there
    (warning,) = [r for r in caplog.records if "not writable" in r.getMessage()]
    assert str(wanted) in warning.getMessage() and "NotADirectoryError" in warning.getMessage()
    # Reading what was built before (RERANK_BUNDLE_BUILD=0, a pre-built cache) keeps the configured dir.
    assert manifest.cache_root(writable=False) == wanted
    # An explicit dir is checked the same way; a writable one is used as is.
    assert manifest.cache_root(tmp_path / "ok") == tmp_path / "ok" and (tmp_path / "ok").is_dir()


def test_library_version_is_found_under_another_distribution_name():
    # `import tensorrt` can come from tensorrt-cu13 alone; the same lookup finds PyYAML for `yaml`.
    from importlib import metadata

    from rerank_bundle.compile.artifacts import _version

    assert _version("yaml") == metadata.version("PyYAML")
    assert _version("numpy") == np.__version__
    assert _version("no_such_module_anywhere") == ""
