"""The fp8 step of the TensorRT build on CPU: ModelOpt ONNX PTQ of a tiny export, as
`compile/tensorrt.py` runs it (calibration feeds, private view of the shared export, ladder),
then the Q/DQ graph run in onnxruntime against fp32. Skipped where NVIDIA ModelOpt's ONNX
quantizer is not installed; TensorRT itself is exercised in tests/gpu.
"""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("torch")
pytest.importorskip("modelopt.onnx.quantization")

from fixtures.gpu_helpers import spec_for  # noqa: E402

from rerank_bundle.compile.context import BuildContext  # noqa: E402
from rerank_bundle.compile.export import export_onnx, feeds, sample_batches  # noqa: E402
from rerank_bundle.compile.fidelity import FidelityProbe  # noqa: E402
from rerank_bundle.compile.onnx_precision import precision_ladder  # noqa: E402
from rerank_bundle.compile.tensorrt import MAX_CALIBRATION_ITEMS, calibration_feeds, typed_graph  # noqa: E402


@pytest.fixture(scope="module")
def fp8_build(tiny_checkpoint, tmp_path_factory):
    spec = spec_for(tiny_checkpoint("bert"), "tiny-bert-fp8")
    shared = tmp_path_factory.mktemp("onnx-fp32")
    onnx_path = export_onnx(spec, shared / "model.onnx", progress=False)
    out_dir = tmp_path_factory.mktemp("staging")
    ctx = BuildContext(spec=spec, onnx_path=onnx_path, out_dir=out_dir, precision="fp8", probe=FidelityProbe(spec))
    return spec, ctx


def quantized_gemms(model) -> list[str]:
    producer = {o: n for n in model.graph.node for o in n.output}
    return [n.name for n in model.graph.node if n.op_type in ("MatMul", "Gemm")
            and any(producer.get(i) is not None and producer[i].op_type == "DequantizeLinear" for i in n.input)]


def test_calibration_feeds_are_one_fixed_shape_batch_per_graph_input(fp8_build):
    spec, ctx = fp8_build
    feeds_ = calibration_feeds(ctx)
    assert sorted(feeds_) == sorted(["input_ids", "attention_mask", "token_type_ids"])
    shapes = {a.shape for a in feeds_.values()}
    assert len(shapes) == 1 and next(iter(shapes))[0] <= MAX_CALIBRATION_ITEMS
    assert all(a.dtype == np.int64 for a in feeds_.values())


def test_fp8_graph_quantizes_encoder_gemms_keeps_head_and_norms_and_tracks_fp32(fp8_build, tmp_path):
    spec, ctx = fp8_build
    rung = precision_ladder("fp8", num_layers=spec.num_layers)[0]
    path = typed_graph(ctx, rung, tmp_path / "model.fp8.onnx", calibration_feeds(ctx))
    model = onnx.load(str(path))
    gemms = quantized_gemms(model)
    assert len(gemms) >= 12 and all("/encoder/" in name for name in gemms)  # head (pooler, classifier) excluded
    assert any(i.data_type == onnx.TensorProto.FLOAT8E4M3FN for i in model.graph.initializer)
    norms = [n for n in model.graph.node if n.op_type == "LayerNormalization"]
    assert norms and all(n.input[0].endswith("__fp32") for n in norms)  # LayerNorm back in fp32
    assert sorted(p.name for p in ctx.onnx_path.parent.iterdir()) == ["model.onnx"]  # shared export untouched
    reference = ort.InferenceSession(str(ctx.onnx_path), providers=["CPUExecutionProvider"])
    quantized = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch in sample_batches(spec):
        named = feeds(spec, batch)
        a, b = reference.run(None, named)[0], quantized.run(None, named)[0].astype(np.float32)
        worst = max(worst, float(np.abs(1 / (1 + np.exp(-a)) - 1 / (1 + np.exp(-b))).max()))
    assert worst <= 2e-2


def test_attention_rung_leaves_the_attention_bmms_unquantized(fp8_build, tmp_path):
    spec, ctx = fp8_build
    rungs = precision_ladder("fp8", num_layers=spec.num_layers)
    first = quantized_gemms(onnx.load(str(typed_graph(ctx, rungs[0], tmp_path / "a.onnx", calibration_feeds(ctx)))))
    second = quantized_gemms(onnx.load(str(typed_graph(ctx, rungs[1], tmp_path / "b.onnx", calibration_feeds(ctx)))))
    assert set(second) < set(first)
    assert all("self/MatMul" not in name for name in second)
