"""Typed ONNX -> serialized TensorRT plan, with one optimization profile per shape bucket.

Kept apart from the orchestration in `tensorrt.py` so the TensorRT calls sit in one place.
The network is created strongly typed: every tensor's precision comes from the ONNX graph
(fp16 / fp8 Q/DQ / fp32 islands), which is the only mode TensorRT 11 keeps and the mode
ModelOpt's FP8 Q/DQ graphs are meant for. No BuilderFlag.FP16/FP8 is set: on a strongly
typed network those flags are rejected, and they are deprecated since TensorRT 10.12.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Sequence

from ..engines.shape_profiles import ShapeProfile

log = logging.getLogger(__name__)


def network_flags(trt: Any) -> int:
    """STRONGLY_TYPED where the enum has it (10.x: opt-in; 11.x: accepted, always on)."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 0 if flag is None else 1 << int(flag)


def compile_plan(trt: Any, onnx_path: Path, profiles: Sequence[ShapeProfile], *, plan_path: Path,
                 timing_cache: Path) -> Path:
    """Parse, configure, build and write the plan atomically; raises RuntimeError on failure."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):  # resolves external weight files beside it
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    for bucket in profiles:
        profile = builder.create_optimization_profile()
        low, opt, high = bucket.shapes()
        for name in names:  # every input is [batch, seq]
            profile.set_shape(name, low, opt, high)
        config.add_optimization_profile(profile)
    cache = _attach_timing_cache(config, timing_cache)
    monitor = _progress_monitor(trt)
    if monitor is not None:
        config.progress_monitor = monitor  # must outlive the build: held in this frame
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("TensorRT returned no plan; see the TensorRT log above")
    if cache is not None:
        timing_cache.write_bytes(bytes(memoryview(config.get_timing_cache().serialize())))
    staged = plan_path.with_suffix(".partial")
    with staged.open("wb") as handle:
        handle.write(plan)
    staged.replace(plan_path)
    log.info("wrote %s (%.1f MiB)", plan_path, plan_path.stat().st_size / 2**20)
    return plan_path


def _attach_timing_cache(config: Any, path: Path) -> Any:
    """Reuse kernel timings of earlier builds on this GPU (a rung retry, the other precision)."""
    data = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(data)
    if cache is None or not config.set_timing_cache(cache, False):  # False: refuse a mismatched cache
        log.info("TensorRT timing cache %s not usable; building without it", path)
        return None
    return cache


def _progress_monitor(trt: Any) -> Any:
    """tqdm bars for TensorRT's top-level build phases (IProgressMonitor, TensorRT 10+)."""
    base = getattr(trt, "IProgressMonitor", None)
    if base is None:
        return None
    from tqdm.auto import tqdm

    class _Bars(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)
            self._bars: dict[str, Any] = {}
            self._lock = threading.Lock()  # TensorRT may report from several threads

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            with self._lock:
                if parent_phase is None:  # nested phases would flood the terminal
                    self._bars[phase_name] = tqdm(total=num_steps, desc=f"TensorRT {phase_name}", leave=False)

        def step_complete(self, phase_name: str, step: int) -> bool:
            with self._lock:
                bar = self._bars.get(phase_name)
                if bar is not None:
                    bar.update(max(0, step + 1 - bar.n))
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            with self._lock:
                bar = self._bars.pop(phase_name, None)
                if bar is not None:
                    bar.close()

    return _Bars()
