"""ONNX -> TensorRT plan (fp16 or fp8) for `TensorRTEngine`; the `build(ctx)` of target "tensorrt".

The driver (`artifacts.build_artifact`) exports and checks the fp32 ONNX graph, caches the
result and writes the manifest (checkpoint hash, TensorRT version, GPU name and compute
capability, profiles, fidelity). This module does the TensorRT part:

    fp32 ONNX -> typed ONNX (fp16 / fp8 Q/DQ with fp32 islands, `onnx_precision`)
              -> strongly typed network, one optimization profile per sequence bucket
                 (`shape_profiles.plan_profiles` from max length, max_num_tokens, max_batch_size;
                 the build key records those limits, so changing one rebuilds the plan)
              -> plan -> fidelity against torch fp32 (`ctx.probe`) -> next rung if it misses

Each rung of `onnx_precision.precision_ladder` keeps more of the network in higher
precision; the first rung that passes the gate is kept, else the last (the manifest then
says it failed and `precision: auto` passes it over). Kernel timings go to a TensorRT
timing cache beside the model's artifacts, so later rungs and rebuilds compile faster.
"""
from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..engines.shape_profiles import plan_profiles, profile_limits, profiles_to_json
from ..engines.tensorrt_engine import (
    PLAN_FILE, GpuIdentity, TensorRTEngine, import_tensorrt, import_torch_cuda, profile_summary,
)
from ..errors import EngineUnavailable
from . import onnx_precision
from .calibration import collate
from .context import BuildContext, TargetResult
from .export import feeds
from .trt_compile import compile_plan

log = logging.getLogger(__name__)

# ModelOpt's ONNX calibration keeps every activation of every sample in host memory (ORT
# MinMax calibrator), so the sample is capped; 64 pairs spread over all lengths suffice
# for max calibration of per-tensor FP8 scales.
MAX_CALIBRATION_ITEMS = 64


def build(ctx: BuildContext) -> TargetResult:
    trt = import_tensorrt()
    gpu = GpuIdentity.current(import_torch_cuda())
    if ctx.precision == "fp8" and not gpu.supports_fp8:
        raise EngineUnavailable(f"fp8 needs compute capability 8.9+; {gpu.name} is {gpu.capability}")
    spec = ctx.spec
    profiles = plan_profiles(**profile_limits(spec))
    log.info("tensorrt %s for %s on %s; profiles: %s", ctx.precision, spec.name, gpu.name, profile_summary(profiles))
    calibration = calibration_feeds(ctx) if ctx.precision == "fp8" else None
    plan_path, rungs = ctx.out_dir / PLAN_FILE, []
    fidelity = None
    with tempfile.TemporaryDirectory(dir=ctx.out_dir, prefix="typed-") as work:
        for rung in onnx_precision.precision_ladder(ctx.precision, num_layers=spec.num_layers):
            ctx.step(f"{ctx.precision} graph: {'; '.join(rung.notes)}")
            typed = typed_graph(ctx, rung, Path(work) / f"model.{ctx.precision}.onnx", calibration)
            ctx.step("TensorRT build")
            compile_plan(trt, typed, profiles, plan_path=plan_path, timing_cache=timing_cache_path(ctx.out_dir, gpu))
            ctx.step("measure fidelity")
            fidelity = _measure(ctx, plan_path)
            rungs.append({**rung.describe(), "fidelity": fidelity.summary(), "passed": fidelity.passes(ctx.gate)})
            log.info("tensorrt %s, %s: %s", ctx.precision, "; ".join(rung.notes), fidelity.summary())
            if fidelity.passes(ctx.gate):
                break
    notes = {"precision_plan": rungs[-1], "rungs_tried": rungs, "gpu": gpu.name, "compute_capability": gpu.capability,
             "strongly_typed": True}
    return TargetResult(files=[PLAN_FILE], fidelity=fidelity, profiles=profiles_to_json(profiles), notes=notes)


def typed_graph(ctx: BuildContext, rung: onnx_precision.PrecisionPlan, out: Path, calibration: dict | None) -> Path:
    if ctx.precision == "fp8":
        assert calibration is not None
        return onnx_precision.quantize_fp8(private_view(ctx.onnx_path, out.parent), out, rung, calibration)
    return onnx_precision.to_fp16(ctx.onnx_path, out, rung)


def private_view(onnx_path: Path, work: Path) -> Path:
    """Symlinks to the shared export (graph + external weights) inside `work`: ModelOpt
    writes intermediate graphs beside its input, which must not land in the shared cache."""
    for file in onnx_path.parent.glob(onnx_path.name + "*"):
        link = work / file.name
        if not link.exists():
            link.symlink_to(file.resolve())
    return work / onnx_path.name


def _measure(ctx: BuildContext, plan_path: Path) -> Any:
    engine = TensorRTEngine(plan_path, precision=ctx.precision, max_seq_len=ctx.spec.max_length)
    try:
        return ctx.probe.measure(engine.forward)
    finally:
        engine.close()


def calibration_feeds(ctx: BuildContext) -> dict[str, np.ndarray]:
    """One fixed-shape batch of calibration samples, keyed by the graph's input names.

    One batch on purpose: ModelOpt's CalibrationDataProvider builds its per-step list as
    `[{}] * n` (one shared dict), so with several steps every step would see the last chunk.
    """
    samples = ctx.calibration
    items = spread_by_length(samples.items, MAX_CALIBRATION_ITEMS)
    return feeds(ctx.spec, collate(items, samples.pad_token_id, samples.use_token_types))


def spread_by_length(items: list[Any], limit: int) -> list[Any]:
    """At most `limit` items, evenly spaced over the length order (shortest and longest kept)."""
    ordered = sorted(items, key=len)
    if len(ordered) <= limit:
        return ordered
    picks = np.linspace(0, len(ordered) - 1, limit).round().astype(int)
    return [ordered[i] for i in sorted(set(picks.tolist()))]


def timing_cache_path(out_dir: Path, gpu: GpuIdentity) -> Path:
    """Beside the model's artifacts (out_dir is a staging dir swapped in after the build),
    one per GPU model: timings of one GPU are meaningless on another."""
    slug = re.sub(r"[^a-z0-9]+", "-", gpu.name.lower()).strip("-")
    return out_dir.parent / f"tensorrt-{slug}-sm{gpu.capability.replace('.', '')}.timing-cache"
