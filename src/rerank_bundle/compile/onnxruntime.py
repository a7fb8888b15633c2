"""ONNX → ONNX Runtime model for `OnnxRuntimeEngine`: transformer graph fusions (fp32) and
int8 dynamic quantization of the fused graph.

Fusions come from `onnxruntime.transformers.optimizer` (Attention, EmbedLayerNormalization,
SkipLayerNormalization, BiasGelu where the graph matches). int8 quantizes the weights of
MatMul/Attention nodes ahead and the activations per batch at run time; like the OpenVINO
build it keeps more layers in fp32 stage by stage until the fidelity gate is met.
"""
from __future__ import annotations

import json
import logging
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..engines.base import require_module
from .context import BuildContext, TargetResult
from .openvino import STAGES, sensitive_patterns

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
INSTALL_HINT = "pip install 'onnxruntime>=1.20' onnx (or rerank-bundle[cpu-engines])"


def build(ctx: BuildContext) -> TargetResult:
    optimize_model = require_module("onnxruntime.transformers.optimizer", install=INSTALL_HINT, name="onnxruntime").optimize_model
    ctx.step("transformer fusions")
    heads, hidden = _attention_dims(ctx.spec.path)
    with _quiet_optimizer():
        optimized = optimize_model(str(ctx.onnx_path), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0)
    fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
    fp32_path = ctx.out_dir / ("fused-fp32.onnx" if ctx.precision == "int8" else MODEL_FILE)
    # Weights over the 2 GiB protobuf limit go to a data file, as in the export.
    external = ctx.onnx_path.with_name(ctx.onnx_path.name + ".data").exists()
    optimized.save_model_to_file(str(fp32_path), use_external_data_format=external)
    notes: dict[str, Any] = {"fusions": fused}
    if ctx.precision != "int8":
        ctx.step("measure fidelity")
        files = [MODEL_FILE] + ([p.name for p in ctx.out_dir.glob(MODEL_FILE + "*.data")] if external else [])
        return TargetResult(files=files, fidelity=ctx.probe.measure(_engine(fp32_path, ctx).forward), notes=notes)
    fidelity, stage = _quantize_staged(ctx, fp32_path)
    for leftover in ctx.out_dir.glob("fused-fp32.onnx*"):
        leftover.unlink()
    notes["int8_fp32_scopes"] = sensitive_patterns(ctx.spec.num_layers, stage)
    return TargetResult(files=[MODEL_FILE], fidelity=fidelity, notes=notes)


@contextmanager
def _quiet_optimizer() -> Iterator[None]:
    """The optimizer logs every fusion at INFO under bare module names; keep that out of our log."""
    names = ("fusion_base", "fusion_utils", "onnx_model", "onnx_model_bert", "fusion_attention", "fusion_options")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _attention_dims(checkpoint: Path) -> tuple[int, int]:
    """(heads, hidden) from config.json; 0 lets the optimizer try to detect them."""
    try:
        config = json.loads((Path(checkpoint) / "config.json").read_text())
    except (OSError, ValueError):
        return 0, 0
    return int(config.get("num_attention_heads") or 0), int(config.get("hidden_size") or 0)


def _engine(path: Path, ctx: BuildContext) -> Any:
    from ..engines.onnxruntime_engine import OnnxRuntimeEngine

    return OnnxRuntimeEngine(path, spec=ctx.spec, precision=ctx.precision)


def _quantize_staged(ctx: BuildContext, fp32_path: Path) -> tuple[Any, int]:
    out = ctx.out_dir / MODEL_FILE
    result, tried = None, []
    for stage in STAGES:
        ctx.step(f"int8 quantization (stage {stage})")
        excluded = _matching_nodes(fp32_path, sensitive_patterns(ctx.spec.num_layers, stage))
        if excluded in tried:  # this model has nothing more to keep at this stage
            continue
        tried.append(excluded)
        _quantize(fp32_path, out, excluded)
        fidelity = ctx.probe.measure(_engine(out, ctx).forward)
        log.info("onnxruntime int8 stage %d (%d nodes in fp32): %s", stage, len(excluded), fidelity.summary())
        result = (fidelity, stage)
        if fidelity.passes(ctx.gate):
            break
    assert result is not None
    return result


def _quantize(src: Path, dst: Path, excluded: list[str]) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Signed int8 weights: u8 x s8 is the VNNI fast path on x86 and exact on ARM.
    quantize_dynamic(
        str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul", "Attention"],
        nodes_to_exclude=excluded,
        # Fused contrib ops (SkipLayerNormalization...) defeat shape inference: their outputs are float.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _matching_nodes(path: Path, patterns: list[str]) -> list[str]:
    """Nodes whose name or outputs match a pattern: fused nodes (Attention_3) keep the
    original layer path only in their output names."""
    if not patterns:
        return []
    import onnx

    compiled = [re.compile(p) for p in patterns]
    graph = onnx.load(str(path), load_external_data=False).graph
    return [
        node.name for node in graph.node
        if any(rx.match(text) for rx in compiled for text in [node.name, *node.output])
    ]
