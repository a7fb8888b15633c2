"""Engine selection: one fallback chain, each skipped option logged with its reason."""
from __future__ import annotations

import logging

from ..config import Precision
from ..errors import ConfigError, EngineUnavailable
from ..loading import ModelSpec
from .base import Engine, EngineReport

log = logging.getLogger(__name__)

ENGINE_NAMES = ("auto", "torch")


def _torch(spec: ModelSpec, *, device: str | None, precision: Precision) -> Engine:
    from .torch_engine import TorchEngine

    return TorchEngine(spec, device=device, precision=precision)


_FACTORIES = {"torch": _torch}


def candidate_chain(engine: str) -> list[str]:
    if engine == "auto":
        return ["torch"]
    if engine not in _FACTORIES:
        raise ConfigError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINE_NAMES)}")
    return [engine]


def select_engine(
    spec: ModelSpec, *, engine: str = "auto", device: str | None = None, precision: Precision = Precision.AUTO
) -> tuple[Engine, EngineReport]:
    """Try each candidate in order; the first that loads wins. An explicit engine that
    cannot run is an error, not a silent fallback."""
    report = EngineReport()
    for name in candidate_chain(engine):
        try:
            chosen = _FACTORIES[name](spec, device=device, precision=precision)
        except EngineUnavailable as exc:
            report.skipped.append((name, str(exc)))
            log.info("engine %s skipped for %s: %s", name, spec.name, exc)
            continue
        report.chosen = f"{chosen.name} ({chosen.device}, {chosen.dtype})"
        log.info("engine for %s: %s", spec.name, report.chosen)
        return chosen, report
    reasons = "; ".join(f"{n}: {r}" for n, r in report.skipped)
    raise EngineUnavailable(f"no engine can run {spec.name}: {reasons}")
