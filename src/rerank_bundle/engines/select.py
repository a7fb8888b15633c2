"""Engine selection: one fallback chain, each skipped option logged with its reason.

`auto` tries, in order: a TensorRT engine built for this GPU, torch on CUDA (fp16),
OpenVINO, ONNX Runtime (CPU artifacts are built on first start and cached), torch on
CPU. The first that loads wins; every option passed over lands in the `EngineReport`
(shown by /info) with why. Naming one engine means that engine or an error.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from ..config import Precision
from ..errors import ConfigError, EngineUnavailable
from ..loading import ModelSpec
from .base import Engine, EngineReport

log = logging.getLogger(__name__)

AUTO_CHAIN = ("tensorrt", "torch-cuda", "openvino", "onnxruntime", "torch")
ENGINE_NAMES = ("auto", "torch", "tensorrt", "openvino", "onnxruntime")
_GPU_ONLY = {"tensorrt", "torch-cuda"}
_CPU_ONLY = {"openvino", "onnxruntime"}


class _Request:
    """What every factory gets; `skipped` collects sub-choices (e.g. openvino/int8) passed over."""

    def __init__(self, *, device: str | None, precision: Precision, cache_dir: str | Path | None, explicit: bool) -> None:
        self.device = device
        self.precision = precision
        self.cache_dir = cache_dir
        self.explicit = explicit
        self.skipped: list[tuple[str, str]] = []


def _tensorrt(spec: ModelSpec, req: _Request) -> Engine:
    from .tensorrt_engine import load_tensorrt_engine  # core imports only; TensorRT itself loads lazily

    return load_tensorrt_engine(spec, cache_dir=req.cache_dir, precision=req.precision, skipped=req.skipped)


def _torch_cuda(spec: ModelSpec, req: _Request) -> Engine:
    from .torch_engine import TorchEngine

    return TorchEngine(spec, device=req.device if req.device and req.device.startswith("cuda") else "cuda", precision=req.precision)


def _torch(spec: ModelSpec, req: _Request) -> Engine:
    from .torch_engine import TorchEngine

    # In the auto chain GPUs were tried already: this is the CPU fallback.
    device = req.device if req.explicit else "cpu"
    return TorchEngine(spec, device=device, precision=req.precision)


def _cpu(target: str) -> Callable[[ModelSpec, _Request], Engine]:
    def factory(spec: ModelSpec, req: _Request) -> Engine:
        from .cpu_compiled import load_cpu_engine

        return load_cpu_engine(spec, target=target, precision=req.precision, cache_dir=req.cache_dir, skipped=req.skipped)

    return factory


_FACTORIES: dict[str, Callable[[ModelSpec, _Request], Engine]] = {
    "tensorrt": _tensorrt,
    "torch-cuda": _torch_cuda,
    "openvino": _cpu("openvino"),
    "onnxruntime": _cpu("onnxruntime"),
    "torch": _torch,
}


def candidate_chain(engine: str) -> list[str]:
    if engine == "auto":
        return list(AUTO_CHAIN)
    if engine not in ENGINE_NAMES:
        raise ConfigError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINE_NAMES)}")
    return [engine]


def _device_conflict(name: str, device: str | None) -> str | None:
    if device == "cpu" and name in _GPU_ONLY:
        return "device=cpu requested"
    if device and device.startswith("cuda") and (name in _CPU_ONLY or name == "torch"):
        return f"device={device} requested"
    return None


def select_engine(
    spec: ModelSpec, *, engine: str = "auto", device: str | None = None, precision: Precision = Precision.AUTO,
    cache_dir: str | Path | None = None,
) -> tuple[Engine, EngineReport]:
    """Try each candidate in order; the first that loads wins. An explicit engine that
    cannot run is an error, not a silent fallback."""
    report = EngineReport()
    chain = candidate_chain(engine)
    device = None if device == "auto" else device
    for name in chain:
        conflict = _device_conflict(name, device) if engine == "auto" else None
        req = _Request(device=device, precision=precision, cache_dir=cache_dir, explicit=engine != "auto")
        try:
            if conflict:
                raise EngineUnavailable(conflict)
            chosen = _FACTORIES[name](spec, req)
        except EngineUnavailable as exc:
            report.skipped.extend(req.skipped)
            report.skipped.append((name, str(exc)))
            log.info("engine %s skipped for %s: %s", name, spec.name, exc)
            continue
        except Exception as exc:
            # Under auto, an engine that breaks while loading (a driver or compiler fault, a
            # corrupt artifact) must not keep the model from serving: the chain moves on. An
            # engine the user named explicitly fails loudly instead.
            if engine != "auto":
                raise
            log.warning("engine %s failed to load %s; trying the next", name, spec.name, exc_info=True)
            report.skipped.extend(req.skipped)
            report.skipped.append((name, f"failed to load: {type(exc).__name__}: {exc}"))
            continue
        report.skipped.extend(req.skipped)
        report.chosen = f"{chosen.name} ({chosen.device}, {chosen.dtype})"
        log.info("engine for %s: %s", spec.name, report.chosen)
        return chosen, report
    reasons = "; ".join(f"{n}: {r}" for n, r in report.skipped)
    raise EngineUnavailable(f"no engine can run {spec.name}: {reasons}")
