"""Typed ONNX graphs for TensorRT: fp16 with fp32 islands, and fp8 Q/DQ by ModelOpt PTQ.

TensorRT 10.12 deprecated, and TensorRT 11 removed, the weakly typed builder flags
(BuilderFlag.FP16/FP8, precision constraints): precision must be written into the graph
and the network built strongly typed. So the precision decisions live here, on ONNX:

- fp16: onnxruntime's float16 converter, with the op types and nodes that need range or
  accumulation precision (LayerNormalization by default; Softmax and the classifier head
  on the fallback rung) left in fp32 behind Cast nodes.
- fp8: ModelOpt ONNX PTQ (`modelopt.onnx.quantization.quantize`, quantize_mode="fp8",
  max calibration on our samples) inserts FP8 Q/DQ before the GEMMs and converts the rest
  to fp16; `pin_fp32` then puts LayerNormalization back in fp32, since ModelOpt's fp16
  pass only blocks Resize. The classifier head is never quantized; when fidelity falls
  short the ladder also keeps attention GEMMs and then the first/last blocks out of fp8.

ONNX PTQ was chosen over `modelopt.torch.quantization` + torch.onnx.export because it
quantizes the very graph the exporter already checked against torch, and does not depend
on the deprecated TorchScript exporter for its custom FP8 Q/DQ symbolics.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import EngineUnavailable

log = logging.getLogger(__name__)

HEAD_PATTERNS = (r".*/(classifier|pooler|score|head)/.*",)
FP32_OPS = ("LayerNormalization",)


@dataclass(frozen=True)
class PrecisionPlan:
    """One rung of the precision ladder: what stays out of low precision."""

    precision: str  # "fp16" | "fp8"
    fp32_ops: tuple[str, ...] = FP32_OPS
    fp32_nodes: tuple[str, ...] = ()  # node-name regexes kept out of fp8 / fp16
    quantize_attention: bool = True  # fp8 only: FP8 Q/DQ on the attention BMMs too
    notes: tuple[str, ...] = field(default=(), compare=False)

    def describe(self) -> dict[str, Any]:
        return {"precision": self.precision, "fp32_ops": list(self.fp32_ops), "excluded_nodes": list(self.fp32_nodes),
                "quantize_attention": self.quantize_attention, "notes": list(self.notes)}


def block_patterns(indices: Sequence[int]) -> tuple[str, ...]:
    """Node-name regexes for encoder blocks (BERT `layer.N`, ModernBERT `layers.N`)."""
    return tuple(rf".*[/.]layers?\.{i}[/.].*" for i in indices)


def precision_ladder(precision: str, *, num_layers: int) -> list[PrecisionPlan]:
    """Plans to try in order until the built engine passes the fidelity check."""
    if precision == "fp16":
        return [
            PrecisionPlan("fp16", notes=("LayerNorm in fp32",)),
            PrecisionPlan("fp16", fp32_ops=FP32_OPS + ("Softmax",), fp32_nodes=HEAD_PATTERNS,
                          notes=("LayerNorm, softmax and classifier head in fp32",)),
        ]
    if precision != "fp8":
        raise ValueError(f"no TensorRT precision ladder for {precision}")
    edges = sorted({0, max(0, num_layers - 1)})
    return [
        PrecisionPlan("fp8", fp32_nodes=HEAD_PATTERNS, notes=("fp8 GEMMs incl. attention; head in fp16",)),
        PrecisionPlan("fp8", fp32_nodes=HEAD_PATTERNS, quantize_attention=False, notes=("attention BMMs in fp16",)),
        PrecisionPlan("fp8", fp32_nodes=HEAD_PATTERNS + block_patterns(edges), quantize_attention=False,
                      notes=("first and last blocks in fp16",)),
    ]


def matching_nodes(names: Sequence[str], patterns: Sequence[str]) -> list[str]:
    compiled = [re.compile(p) for p in patterns]
    return [n for n in names if any(c.fullmatch(n) for c in compiled)]


def to_fp16(src: Path, dst: Path, plan: PrecisionPlan) -> Path:
    """fp32 graph -> fp16 graph with fp32 islands; graph inputs/outputs keep their types."""
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    names = [node.name for node in onnx.load(str(src), load_external_data=False).graph.node]
    model = convert_float_to_float16(
        str(src), keep_io_types=True, op_block_list=sorted(set(DEFAULT_OP_BLOCK_LIST) | set(plan.fp32_ops)),
        node_block_list=matching_nodes(names, plan.fp32_nodes),
    )
    return save(model, dst)


def quantize_fp8(src: Path, dst: Path, plan: PrecisionPlan, calibration: dict[str, np.ndarray]) -> Path:
    """ModelOpt FP8 PTQ (max calibration) on `src`, then LayerNorm pinned back to fp32."""
    try:
        from modelopt.onnx.quantization import quantize
    except ImportError as exc:
        raise EngineUnavailable(f"fp8 needs NVIDIA ModelOpt: pip install 'rerank-bundle[gpu-engines]' ({exc})") from exc
    import onnx

    rows, cols = next(iter(calibration.values())).shape
    shapes = ",".join(f"{name}:{rows}x{cols}" for name in calibration)  # one step over all samples
    raw = dst.with_name(dst.stem + ".qdq.onnx")
    options = dict(
        onnx_path=str(src), quantize_mode="fp8", calibration_data=calibration, calibration_method="max",
        calibration_shapes=shapes, calibration_eps=_calibration_eps(), nodes_to_exclude=list(plan.fp32_nodes),
        disable_mha_qdq=not plan.quantize_attention, high_precision_dtype="fp16", output_path=str(raw),
        log_level="WARNING",
    )
    quantize(**_supported(quantize, options))
    model = pin_fp32(onnx.load(str(raw)), plan.fp32_ops)
    raw.unlink(missing_ok=True)
    return save(model, dst)


def _supported(function: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Drop options this ModelOpt version does not take (its signature grew over releases)."""
    import inspect

    accepted = inspect.signature(function).parameters
    dropped = sorted(set(options) - set(accepted))
    if dropped:
        log.warning("this ModelOpt version ignores %s", ", ".join(dropped))
    return {k: v for k, v in options.items() if k in accepted}


def _calibration_eps() -> list[str]:
    import onnxruntime

    return ["cuda:0", "cpu"] if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else ["cpu"]


def save(model: Any, dst: Path) -> Path:
    """Save, with weights in a side file when the graph is too big for one protobuf."""
    import onnx

    large = model.ByteSize() > 1_800_000_000 if hasattr(model, "ByteSize") else False
    onnx.save(model, str(dst), save_as_external_data=large, location=dst.name + ".data" if large else None)
    return dst


def _elem_types(model: Any) -> dict[str, int]:
    graph = model.graph
    types = {init.name: init.data_type for init in graph.initializer}
    for info in list(graph.input) + list(graph.output) + list(graph.value_info):
        types[info.name] = info.type.tensor_type.elem_type
    return types


def pin_fp32(model: Any, op_types: Sequence[str]) -> Any:
    """Run nodes of `op_types` in fp32 inside a 16-bit graph: Cast in, fp32 weights, Cast out.

    Only the first output (the data output) is cast back; LayerNormalization's optional
    mean/inv-std outputs are fp32 by the ONNX spec already.
    """
    import onnx
    from onnx import TensorProto, helper

    types = _elem_types(model)
    if any(n.op_type in op_types and n.input and n.input[0] not in types for n in model.graph.node):
        model = onnx.shape_inference.infer_shapes(model)
        types = _elem_types(model)
    low = (TensorProto.FLOAT16, TensorProto.BFLOAT16)
    inits = {init.name: init for init in model.graph.initializer}
    made: set[str] = set()
    nodes = []
    for node in model.graph.node:
        in_type = types.get(node.input[0]) if node.input else None
        if node.op_type not in op_types or in_type not in low or not node.output or not node.output[0]:
            nodes.append(node)
            continue
        for i, name in enumerate(node.input):
            if name and types.get(name) in low:
                node.input[i] = _fp32_copy(name, inits, made, nodes, model)
        out = node.output[0]
        node.output[0] = f"{out}__fp32"
        nodes.append(node)
        nodes.append(helper.make_node("Cast", [node.output[0]], [out], to=in_type, name=f"{out}__cast_back"))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    kept = [v for v in model.graph.value_info if not v.name.endswith("__fp32")]
    del model.graph.value_info[:]
    model.graph.value_info.extend(kept)
    return model


def _fp32_copy(name: str, inits: dict[str, Any], made: set[str], nodes: list[Any], model: Any) -> str:
    """Name of an fp32 version of tensor `name`: a converted initializer or one Cast node."""
    from onnx import TensorProto, helper, numpy_helper

    target = f"{name}__fp32"
    if target in made:
        return target
    made.add(target)
    if name in inits:
        array = numpy_helper.to_array(inits[name]).astype(np.float32)
        model.graph.initializer.append(numpy_helper.from_array(array, target))
    else:
        nodes.append(helper.make_node("Cast", [name], [target], to=TensorProto.FLOAT, name=f"{target}__cast"))
    return target
