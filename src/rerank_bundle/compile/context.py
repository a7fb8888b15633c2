"""What a target builder gets (`BuildContext`) and returns (`TargetResult`).

Each target module (openvino, onnxruntime, tensorrt) exposes `build(ctx) -> TargetResult`
and writes its files into `ctx.out_dir`; the driver in `artifacts.py` exports the ONNX
graph, wraps the result in a manifest and caches it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..engines.base import ModelInputs
from ..loading import ModelSpec
from .calibration import SampleSet, calibration_set, collate, load_tokenizer
from .fidelity import Fidelity, FidelityGate, FidelityProbe


@dataclass
class TargetResult:
    files: list[str]  # relative to out_dir; the manifest lists them and loading checks them
    fidelity: Fidelity | None
    profiles: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class BuildContext:
    spec: ModelSpec
    onnx_path: Path
    out_dir: Path
    precision: str
    probe: FidelityProbe
    gate: FidelityGate = field(default_factory=FidelityGate)
    calibration_file: Path | None = None
    bar: Any = None  # a tqdm bar over the build steps, or None

    def step(self, name: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(name)
            self.bar.update()

    @cached_property
    def calibration(self) -> SampleSet:
        return calibration_set(self.spec, load_tokenizer(self.spec), path=self.calibration_file)

    def timing_batches(self) -> list[ModelInputs]:
        """Two runtime-like batches from the calibration sample: short rows, then long rows."""
        items = sorted(self.calibration.items, key=len)
        short, long = items[: min(16, len(items))], items[-min(4, len(items)) :]
        return [collate(part, self.calibration.pad_token_id, self.calibration.use_token_types) for part in (short, long)]
