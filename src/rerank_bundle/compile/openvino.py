"""ONNX → OpenVINO IR for `OpenVinoEngine`: fp32, bf16 (an inference hint on the fp32 IR)
and int8 (NNCF post-training quantization calibrated on sample pairs).

int8 is tried in stages, each keeping more of the model in fp32, until it meets the
fidelity gate against torch fp32: everything quantized; then the head (classifier/pooler)
and embeddings kept; then the first and last blocks too. The first stage that passes is
kept; if none does, the most conservative one is kept and the manifest says it failed,
so `precision: auto` passes it over.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from ..engines.openvino_engine import import_openvino, measure_shape_modes
from .context import BuildContext, TargetResult
from .manifest import BF16_ISA, cpu_isa
from .onnx_precision import HEAD_PATTERNS

log = logging.getLogger(__name__)

MODEL_FILES = ["model.xml", "model.bin"]
_EMBEDDINGS = r".*/embeddings/.*"


def sensitive_patterns(num_layers: int, stage: int) -> list[str]:
    """Node-name patterns kept out of int8 at each stage (0 = none)."""
    patterns: list[str] = []
    if stage >= 1:
        patterns += [*HEAD_PATTERNS, _EMBEDDINGS]
    if stage >= 2:
        last = max(0, num_layers - 1)
        patterns += [r".*/(layer|layers)\.0/.*", rf".*/(layer|layers)\.{last}/.*"]
    return patterns


STAGES = (0, 1, 2)


def build(ctx: BuildContext) -> TargetResult:
    ov = import_openvino()
    ctx.step("convert ONNX → IR")
    model = ov.convert_model(str(ctx.onnx_path))
    notes: dict[str, Any] = {}
    fidelity, stage = None, 0
    if ctx.precision == "int8":
        model, fidelity, stage = _quantize_staged(ctx, model)
        notes["int8_fp32_scopes"] = sensitive_patterns(ctx.spec.num_layers, stage)
    ov.save_model(model, str(ctx.out_dir / "model.xml"), compress_to_fp16=False)
    xml = ctx.out_dir / "model.xml"
    if fidelity is None:
        ctx.step("measure fidelity")
        fidelity = ctx.probe.measure(_engine(xml, ctx, "dynamic").forward)
    elif stage == 0 and BF16_ISA & set(cpu_isa()):
        # Nothing had to stay fp32: try the unquantized rest (softmax, norms) in bf16.
        ctx.step("measure int8 + bf16 rest")
        with_bf16 = ctx.probe.measure(_engine(xml, ctx, "dynamic", int8_rest="bf16").forward)
        log.info("openvino int8 with bf16 rest: %s", with_bf16.summary())
        if with_bf16.passes(ctx.gate):
            notes["int8_rest"], fidelity = "bf16", with_bf16
    rest = notes.get("int8_rest", "f32")
    ctx.step("measure shape modes")
    speeds = measure_shape_modes(xml, spec=ctx.spec, precision=ctx.precision, samples=ctx.timing_batches(), int8_rest=rest)
    notes["shape_mode"] = max(speeds, key=speeds.get)  # type: ignore[arg-type]
    notes["shape_mode_items_per_s"] = {k: round(v, 1) for k, v in speeds.items()}
    log.info("openvino %s: %s shapes are faster here (%s)", ctx.precision, notes["shape_mode"], notes["shape_mode_items_per_s"])
    return TargetResult(files=list(MODEL_FILES), fidelity=fidelity, notes=notes)


def _engine(xml: Any, ctx: BuildContext, shape_mode: str, int8_rest: str = "f32") -> Any:
    from ..engines.openvino_engine import OpenVinoEngine

    return OpenVinoEngine(xml, spec=ctx.spec, precision=ctx.precision, shape_mode=shape_mode, int8_rest=int8_rest)


def _quantize_staged(ctx: BuildContext, model: Any) -> tuple[Any, Any, int]:
    ov = import_openvino()
    tmp_xml = ctx.out_dir / "stage.xml"
    best, tried = None, []
    for stage in STAGES:
        ctx.step(f"int8 calibration (stage {stage})")
        patterns = sensitive_patterns(ctx.spec.num_layers, stage)
        kept = _matching_ops(model, patterns)
        if kept in tried:  # this model has nothing more to keep at this stage
            continue
        tried.append(kept)
        quantized = _quantize(ctx, model.clone(), patterns)
        ov.save_model(quantized, str(tmp_xml), compress_to_fp16=False)
        fidelity = ctx.probe.measure(_engine(tmp_xml, ctx, "dynamic").forward)
        log.info("openvino int8 stage %d (%d ops kept in fp32): %s", stage, len(kept), fidelity.summary())
        best = (quantized, fidelity, stage)
        if fidelity.passes(ctx.gate):
            break
    for leftover in (tmp_xml, tmp_xml.with_suffix(".bin")):
        leftover.unlink(missing_ok=True)
    assert best is not None
    return best


def _matching_ops(model: Any, patterns: list[str]) -> set[str]:
    compiled = [re.compile(p) for p in patterns]
    return {op.get_friendly_name() for op in model.get_ops() if any(rx.match(op.get_friendly_name()) for rx in compiled)}


def _quantize(ctx: BuildContext, model: Any, fp32_patterns: list[str]) -> Any:
    import nncf  # heavy: imported only for int8 builds

    from .export import feeds

    batches = list(ctx.calibration.batches(batch_size=1))
    dataset = nncf.Dataset(batches, lambda inputs: feeds(ctx.spec, inputs))
    scope = nncf.IgnoredScope(patterns=fp32_patterns, validate=False) if fp32_patterns else None
    return nncf.quantize(
        model, dataset, model_type=nncf.ModelType.TRANSFORMER, preset=nncf.QuantizationPreset.MIXED,
        subset_size=len(batches), ignored_scope=scope,
    )
