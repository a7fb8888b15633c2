"""TensorRT target logic that needs no GPU: precision choice per GPU, calibration sampling,
where timing caches and ModelOpt's scratch files go, what the build key holds. (The build
itself: tests/gpu.)"""
from __future__ import annotations

from pathlib import Path

import pytest

from rerank_bundle.compile.artifacts import build_options
from rerank_bundle.compile.tensorrt import private_view, spread_by_length, timing_cache_path
from rerank_bundle.config import ModelEntry, ModelSource, Precision
from rerank_bundle.engines.shape_profiles import plan_profiles, profile_limits
from rerank_bundle.engines.tensorrt_engine import GpuIdentity, trt_precisions
from rerank_bundle.errors import EngineUnavailable
from rerank_bundle.loading import ModelSpec
from rerank_bundle.types import ModelKind

H100 = GpuIdentity("NVIDIA H100 80GB HBM3", (9, 0))
L4 = GpuIdentity("NVIDIA L4", (8, 9))
A10G = GpuIdentity("NVIDIA A10G", (8, 6))


def test_fp8_needs_ada_or_hopper():
    assert H100.supports_fp8 and L4.supports_fp8 and not A10G.supports_fp8
    assert H100.capability == "9.0"


def test_auto_tries_fp8_only_where_the_gpu_has_it():
    assert trt_precisions(Precision.AUTO, fp8_capable=True) == ["fp8", "fp16"]
    assert trt_precisions(Precision.AUTO, fp8_capable=False) == ["fp16"]
    assert trt_precisions(Precision.FP16, fp8_capable=False) == ["fp16"]
    with pytest.raises(EngineUnavailable, match="8.9"):
        trt_precisions(Precision.FP8, fp8_capable=False)
    with pytest.raises(EngineUnavailable, match="fp16 or fp8"):
        trt_precisions(Precision.INT8, fp8_capable=True)


def test_calibration_sample_spans_all_lengths():
    items = ["x" * n for n in range(1, 201)]
    picked = spread_by_length(items, 64)
    assert len(picked) == 64 and picked[0] == "x" and picked[-1] == "x" * 200
    assert spread_by_length(items[:10], 64) == items[:10]


def test_timing_cache_lives_beside_the_artifacts_per_gpu_model(tmp_path: Path):
    staging = tmp_path / "model" / ".tensorrt-fp16.staging"
    path = timing_cache_path(staging, H100)
    assert path.parent == tmp_path / "model"
    assert path.name == "tensorrt-nvidia-h100-80gb-hbm3-sm90.timing-cache"
    assert timing_cache_path(staging, L4) != path


def test_private_view_links_graph_and_weights_without_copying(tmp_path: Path):
    shared = tmp_path / "onnx-fp32"
    shared.mkdir()
    (shared / "model.onnx").write_bytes(b"graph")
    (shared / "model.onnx.data").write_bytes(b"weights")
    (shared / "manifest.json").write_text("{}")
    work = tmp_path / "work"
    work.mkdir()
    view = private_view(shared / "model.onnx", work)
    assert view == work / "model.onnx" and view.is_symlink() and view.read_bytes() == b"graph"
    assert (work / "model.onnx.data").read_bytes() == b"weights"
    assert not (work / "manifest.json").exists()
    assert private_view(shared / "model.onnx", work) == view  # idempotent across ladder rungs


def _spec(max_length: int = 512, **settings) -> ModelSpec:
    entry = ModelEntry(name="unit", source=ModelSource(path="/unused"), **settings)
    return ModelSpec(entry=entry, path=Path("/unused"), kind=ModelKind.RERANK, model_type="bert",
                     architecture="BertForSequenceClassification", max_length=max_length, hidden_size=8, num_layers=2,
                     intermediate_size=16, num_labels=1)


def test_tensorrt_build_key_holds_the_limits_its_profiles_are_planned_from():
    base = build_options(_spec(), "tensorrt", "fp16")
    assert {k: base[k] for k in ("max_seq_len", "max_num_tokens", "max_batch_size")} == profile_limits(_spec())
    assert plan_profiles(**profile_limits(_spec())) == plan_profiles(max_seq_len=512, max_num_tokens=16384,
                                                                     max_batch_size=128)
    for change in ({"max_num_tokens": 8192}, {"max_batch_size": 64}, {"max_length": 256}):
        assert build_options(_spec(**change), "tensorrt", "fp16") != base, change
    assert "max_num_tokens" not in build_options(_spec(), "openvino", "fp32")  # CPU artifacts have no profiles


def test_fp8_build_key_holds_the_calibration_data():
    assert "calibration" not in build_options(_spec(), "tensorrt", "fp16")
    builtin = build_options(_spec(), "tensorrt", "fp8")
    custom = build_options(_spec(), "tensorrt", "fp8", calibration="sha256:0123456789abcdef")
    assert builtin["calibration"] == "builtin" and custom != builtin
