"""Typed-ONNX passes behind the TensorRT build (fp16 with fp32 islands; fp32 pinning for fp8
graphs) and the precision ladder. Runs on CPU with onnx + onnxruntime, no torch, no GPU."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from rerank_bundle.compile.onnx_precision import (  # noqa: E402
    HEAD_PATTERNS,
    PrecisionPlan,
    block_patterns,
    matching_nodes,
    pin_fp32,
    precision_ladder,
    to_fp16,
)

HIDDEN = 16


def block_graph(dtype: int = TensorProto.FLOAT) -> onnx.ModelProto:
    """x -> MatMul -> Add(residual) -> LayerNormalization -> MatMul (classifier) -> y."""
    rng = np.random.default_rng(0)
    np_type = np.float32 if dtype == TensorProto.FLOAT else np.float16
    w = rng.normal(0, 0.5, (HIDDEN, HIDDEN)).astype(np_type)
    head = rng.normal(0, 0.5, (HIDDEN, 1)).astype(np_type)
    inits = [
        numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(np.ones(HIDDEN, np_type), "gamma"),
        numpy_helper.from_array(np.zeros(HIDDEN, np_type), "beta"),
        numpy_helper.from_array(head, "head_w"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="/model/encoder/layer.0/dense/MatMul"),
        helper.make_node("Add", ["h", "x"], ["r"], name="/model/encoder/layer.0/Add"),
        helper.make_node("LayerNormalization", ["r", "gamma", "beta"], ["n"], axis=-1, epsilon=1e-5,
                         name="/model/encoder/layer.0/LayerNorm/LayerNormalization"),
        helper.make_node("MatMul", ["n", "head_w"], ["y"], name="/model/classifier/MatMul"),
    ]
    graph = helper.make_graph(
        nodes, "block", [helper.make_tensor_value_info("x", dtype, ["batch", HIDDEN])],
        [helper.make_tensor_value_info("y", dtype, ["batch", 1])], inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def node_types(model: onnx.ModelProto, name_part: str) -> list[str]:
    return [n.op_type for n in model.graph.node if name_part in n.name]


def test_to_fp16_keeps_layernorm_in_fp32_and_matches_fp32(tmp_path: Path):
    src = tmp_path / "model.onnx"
    onnx.save(block_graph(), str(src))
    out = to_fp16(src, tmp_path / "model.fp16.onnx", PrecisionPlan("fp16"))
    model = onnx.load(str(out))
    weights = {i.name: i.data_type for i in model.graph.initializer}
    assert weights["w"] == TensorProto.FLOAT16 and weights["gamma"] == TensorProto.FLOAT
    ln = next(n for n in model.graph.node if n.op_type == "LayerNormalization")
    producers = {o: n for n in model.graph.node for o in n.output}
    assert producers[ln.input[0]].op_type == "Cast"  # fp16 activation cast up before the norm
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT  # I/O types kept
    x = np.random.default_rng(1).normal(0, 1, (4, HIDDEN)).astype(np.float32)
    np.testing.assert_allclose(run(model, x), run(block_graph(), x), atol=2e-2)


def test_fallback_rung_keeps_the_classifier_head_in_fp32(tmp_path: Path):
    src = tmp_path / "model.onnx"
    onnx.save(block_graph(), str(src))
    plan = precision_ladder("fp16", num_layers=1)[1]
    model = onnx.load(str(to_fp16(src, tmp_path / "out.onnx", plan)))
    weights = {i.name: i.data_type for i in model.graph.initializer}
    assert weights["head_w"] == TensorProto.FLOAT and weights["w"] == TensorProto.FLOAT16


def test_pin_fp32_wraps_layernorm_of_an_fp16_graph():
    model = pin_fp32(block_graph(TensorProto.FLOAT16), ["LayerNormalization"])
    onnx.checker.check_model(model)
    ln = next(n for n in model.graph.node if n.op_type == "LayerNormalization")
    inits = {i.name: i for i in model.graph.initializer}
    assert inits[ln.input[1]].data_type == TensorProto.FLOAT and inits[ln.input[2]].data_type == TensorProto.FLOAT
    casts = [n for n in model.graph.node if n.op_type == "Cast"]
    assert [c.attribute[0].i for c in casts] == [TensorProto.FLOAT, TensorProto.FLOAT16]
    x16 = np.random.default_rng(2).normal(0, 1, (3, HIDDEN)).astype(np.float16)
    reference = run(block_graph(), x16.astype(np.float32))
    np.testing.assert_allclose(run(model, x16).astype(np.float32), reference, atol=3e-2)


def test_pin_fp32_leaves_fp32_nodes_and_other_ops_alone():
    model = block_graph()
    before = [n.SerializeToString() for n in model.graph.node]
    assert [n.SerializeToString() for n in pin_fp32(model, ["LayerNormalization"]).graph.node] == before


def test_pin_fp32_casts_a_shared_activation_once():
    model = block_graph(TensorProto.FLOAT16)
    extra = helper.make_node("LayerNormalization", ["r", "gamma", "beta"], ["n2"], axis=-1, name="second_ln")
    model.graph.node.insert(3, extra)
    model.graph.output.append(helper.make_tensor_value_info("n2", TensorProto.FLOAT16, ["batch", HIDDEN]))
    pinned = pin_fp32(model, ["LayerNormalization"])
    onnx.checker.check_model(pinned)
    produced = [o for n in pinned.graph.node for o in n.output]
    assert len(produced) == len(set(produced))
    assert sum(1 for n in pinned.graph.node if n.op_type == "Cast" and n.input[0] == "r") == 1


def test_head_and_block_patterns_match_exported_node_names():
    names = [
        "/model/bert/encoder/layer.0/attention/self/query/MatMul",
        "/model/bert/encoder/layer.11/output/dense/MatMul",
        "/model/bert/encoder/layer.1/output/dense/MatMul",
        "/model/model/layers.21/mlp/Wo/MatMul",
        "/model/classifier/dense/MatMul",
        "/model/bert/pooler/dense/Gemm",
    ]
    assert matching_nodes(names, HEAD_PATTERNS) == names[4:]
    assert matching_nodes(names, block_patterns([0, 11])) == names[:2]
    assert matching_nodes(names, block_patterns([21])) == [names[3]]


def test_ladders_escalate_towards_higher_precision():
    fp8 = precision_ladder("fp8", num_layers=12)
    assert [p.quantize_attention for p in fp8] == [True, False, False]
    assert all(HEAD_PATTERNS[0] in p.fp32_nodes for p in fp8)
    assert block_patterns([0, 11])[1] in fp8[-1].fp32_nodes
    fp16 = precision_ladder("fp16", num_layers=12)
    assert "LayerNormalization" in fp16[0].fp32_ops and "Softmax" in fp16[1].fp32_ops
    with pytest.raises(ValueError):
        precision_ladder("int8", num_layers=12)
