"""The precision step of the TensorRT build, checked on CPU: the typed ONNX graphs it hands
to TensorRT (fp16 with LayerNorm in fp32; a 16-bit graph with LayerNorm pinned back to fp32,
as after ModelOpt's fp8 pass) must still compute what the fp32 export computes.

onnxruntime runs them here; TensorRT itself is only on GPU machines (tests/gpu).
"""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from fixtures.gpu_helpers import spec_for  # noqa: E402
from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16  # noqa: E402

from rerank_bundle.compile.export import export_onnx, feeds, sample_batches  # noqa: E402
from rerank_bundle.compile.onnx_precision import pin_fp32, precision_ladder, to_fp16  # noqa: E402

FAMILIES = ["bert", "xlm-roberta", "deberta-v2", "modernbert"]


@pytest.fixture(scope="module")
def exported(tiny_checkpoint, tmp_path_factory):
    cache = {}

    def get(family):
        if family not in cache:
            spec = spec_for(tiny_checkpoint(family), f"tiny-{family}")
            path = export_onnx(spec, tmp_path_factory.mktemp(family) / "model.onnx", progress=False)
            cache[family] = (spec, path)
        return cache[family]

    return get


def worst_sigmoid_delta(spec, reference_path, candidate) -> float:
    ref = ort.InferenceSession(str(reference_path), providers=["CPUExecutionProvider"])
    run = ort.InferenceSession(candidate.SerializeToString(), providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch in sample_batches(spec):
        named = feeds(spec, batch)
        a, b = ref.run(None, named)[0], run.run(None, named)[0]
        worst = max(worst, float(np.abs(1 / (1 + np.exp(-a)) - 1 / (1 + np.exp(-b))).max()))
    return worst


@pytest.mark.parametrize("family", FAMILIES)
def test_fp16_graph_keeps_layernorm_fp32_and_matches_the_export(exported, family, tmp_path):
    spec, path = exported(family)
    typed = onnx.load(str(to_fp16(path, tmp_path / "model.fp16.onnx", precision_ladder("fp16", num_layers=2)[0])))
    inits = {i.name: i.data_type for i in typed.graph.initializer}
    norms = [n for n in typed.graph.node if n.op_type == "LayerNormalization"]
    assert norms and all(inits.get(n.input[1], onnx.TensorProto.FLOAT) == onnx.TensorProto.FLOAT for n in norms)
    assert sum(t == onnx.TensorProto.FLOAT16 for t in inits.values()) > 5  # the GEMM weights went to fp16
    assert typed.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert worst_sigmoid_delta(spec, path, typed) <= 2e-3


@pytest.mark.parametrize("family", FAMILIES)
def test_pinning_layernorm_of_a_16_bit_graph_restores_fp32_norms(exported, family):
    spec, path = exported(family)
    all16 = convert_float_to_float16(str(path), keep_io_types=True, op_block_list=list(DEFAULT_OP_BLOCK_LIST))
    pinned = pin_fp32(all16, ["LayerNormalization"])
    onnx.checker.check_model(pinned)
    norms = [n for n in pinned.graph.node if n.op_type == "LayerNormalization"]
    assert norms and all(n.input[0].endswith("__fp32") for n in norms)
    assert worst_sigmoid_delta(spec, path, pinned) <= 2e-3
