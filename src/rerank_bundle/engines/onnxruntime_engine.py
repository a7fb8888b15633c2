"""ONNX Runtime engine (CPU): the portable fallback for every compiled CPU artifact.

One session, intra-op threads = physical cores (SMT siblings only slow GEMMs down), all
graph optimizations on top of the fusions applied at build time. Inputs are numpy
arrays that ORT wraps without copying on CPU, so IO binding buys nothing there (measured:
within noise); it is used when a non-CPU execution provider runs the session, where it
saves the device round trip per call.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..loading import ModelSpec
from .base import EngineLimits, ModelInputs, require_module

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'onnxruntime>=1.20' (or rerank-bundle[cpu-engines])"


def physical_cores() -> int:
    """Physical cores of the CPUs this process may run on (logical count where unknown)."""
    try:
        import psutil

        count = psutil.cpu_count(logical=False)
        if count:
            return int(count)
    except ImportError:
        pass
    cores = set()
    try:
        block: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines() + [""]:
            if not line.strip():
                if "core id" in block:
                    cores.add((block.get("physical id"), block["core id"]))
                block = {}
            elif ":" in line:
                key, value = line.split(":", 1)
                block[key.strip()] = value.strip()
    except OSError:
        pass
    return len(cores) or (os.cpu_count() or 1)


class OnnxRuntimeEngine:
    name = "onnxruntime"

    def __init__(
        self, model_path: str | Path, *, spec: ModelSpec, precision: str = "fp32", threads: int | None = None,
        providers: Sequence[str] = ("CPUExecutionProvider",), io_binding: bool | None = None,
    ) -> None:
        ort = require_module("onnxruntime", install=INSTALL_HINT)
        self.dtype = precision
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or physical_cores()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(str(model_path), options, providers=list(providers))
        self._names = [i.name for i in self._session.get_inputs()]
        self._output = self._session.get_outputs()[0].name
        active = self._session.get_providers()[0]
        self.device = "cpu" if active == "CPUExecutionProvider" else active.replace("ExecutionProvider", "").lower()
        self._io_binding = (active != "CPUExecutionProvider") if io_binding is None else io_binding
        self.limits = EngineLimits(max_seq_len=spec.max_length)
        log.info("onnxruntime engine: %s (%s, %d threads, %s)", model_path, precision, options.intra_op_num_threads, active)

    def forward(self, inputs: ModelInputs) -> np.ndarray:
        named = inputs.as_feeds(self._names)
        if not self._io_binding:
            return np.asarray(self._session.run([self._output], named)[0], dtype=np.float32)
        binding = self._session.io_binding()
        for name, array in named.items():
            binding.bind_cpu_input(name, array)
        binding.bind_output(self._output, "cpu")
        self._session.run_with_iobinding(binding)
        return np.asarray(binding.copy_outputs_to_cpu()[0], dtype=np.float32)

    def close(self) -> None:
        self._session = None  # type: ignore[assignment]
