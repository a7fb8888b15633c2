"""OpenVINO engine (CPU): a built IR compiled with the throughput hint.

The throughput hint gives several CPU streams; one batch is split across them and run as
parallel infer requests, so both cores work even on the short rows of a rerank request.
Shapes run either fully dynamic or in static sequence buckets (batch stays dynamic, the
sequence is padded up to the bucket); the build measures both and the manifest says
which was faster here. Precision: fp32 and bf16 are inference hints on the same fp32 IR;
int8 is an NNCF-quantized IR whose unquantized layers run in fp32, or in bf16 where
the build measured that this still passes the fidelity gate (10-20% faster here).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..loading import ModelSpec
from .base import EngineLimits, ModelInputs, require_module

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'openvino>=2025.0' (or rerank-bundle[cpu-engines])"
SHAPE_MODES = ("dynamic", "buckets")
# Rows below this stay in one request: splitting tiny batches costs more than it gains.
_MIN_ROWS_PER_REQUEST = 2


def import_openvino() -> Any:
    return require_module("openvino", install=INSTALL_HINT)


def seq_buckets(max_length: int) -> list[int]:
    """Powers of two from 32, capped by (and ending at) the model's max length."""
    buckets, size = [], 32
    while size < max_length:
        buckets.append(size)
        size *= 2
    return buckets + [max_length]


def inference_precision(precision: str, int8_rest: str = "f32") -> str:
    """OpenVINO's hint for the ops that are not int8: bf16 for bf16, and for int8 where the
    build found the unquantized rest may run in bf16 without missing the gate."""
    if precision == "bf16" or (precision == "int8" and int8_rest == "bf16"):
        return "bf16"
    return "f32"


class OpenVinoEngine:
    name = "openvino"
    device = "cpu"

    def __init__(
        self, model_xml: str | Path, *, spec: ModelSpec, precision: str = "fp32", shape_mode: str = "dynamic",
        cache_dir: str | Path | None = None, threads: int | None = None, int8_rest: str = "f32",
    ) -> None:
        if shape_mode not in SHAPE_MODES:
            raise ValueError(f"shape_mode must be one of {SHAPE_MODES}, got {shape_mode!r}")
        self._ov = ov = import_openvino()
        self.dtype = precision
        self.shape_mode = shape_mode
        self._spec = spec
        self._core = ov.Core()
        self._config: dict[str, Any] = {
            "PERFORMANCE_HINT": "THROUGHPUT",
            "INFERENCE_PRECISION_HINT": inference_precision(precision, int8_rest),
        }
        if threads:
            self._config["INFERENCE_NUM_THREADS"] = int(threads)
        if cache_dir:  # compiled-blob cache: the second start skips most of the compile
            self._config["CACHE_DIR"] = str(cache_dir)
        self._model = self._core.read_model(str(model_xml))
        self._buckets = seq_buckets(spec.max_length) if shape_mode == "buckets" else []
        self._compiled: dict[int | None, tuple[Any, Any, int]] = {}
        self._names = [p.get_any_name() for p in self._model.inputs]
        self.limits = EngineLimits(max_seq_len=spec.max_length)
        self._get(None if shape_mode == "dynamic" else self._buckets[0])
        log.info("openvino engine: %s (%s, %s shapes, %d requests)", model_xml, precision, shape_mode, self._compiled_requests)

    @property
    def _compiled_requests(self) -> int:
        return next(iter(self._compiled.values()))[2]

    def _get(self, bucket: int | None) -> tuple[Any, Any, int]:
        """Compiled model, its request queue and its request count for a bucket (None: dynamic)."""
        if bucket not in self._compiled:
            model = self._model
            if bucket is not None:
                model = self._model.clone()
                model.reshape({name: [-1, bucket] for name in self._names})
            compiled = self._core.compile_model(model, "CPU", self._config)
            requests = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
            queue = self._ov.AsyncInferQueue(compiled, requests)
            queue.set_callback(_collect)
            self._compiled[bucket] = (compiled, queue, requests)
        return self._compiled[bucket]

    def forward(self, inputs: ModelInputs) -> np.ndarray:
        named = inputs.as_feeds(self._names)
        batch, seq = named["input_ids"].shape
        bucket = None
        if self._buckets:
            bucket = next((b for b in self._buckets if b >= seq), self._buckets[-1])
            # Pad content is irrelevant: padded keys are masked out and pooling skips them.
            named = {k: _pad_columns(v, bucket, 0) for k, v in named.items()}
        compiled, queue, requests = self._get(bucket)
        parts = min(requests, max(1, batch // _MIN_ROWS_PER_REQUEST))
        if parts == 1:
            return np.array(compiled(named)[0], dtype=np.float32)
        outputs: list[np.ndarray | None] = [None] * parts
        for i, rows in enumerate(np.array_split(np.arange(batch), parts)):
            queue.start_async({k: v[rows[0] : rows[-1] + 1] for k, v in named.items()}, (outputs, i))
        queue.wait_all()
        return np.concatenate(outputs, axis=0).astype(np.float32, copy=False)  # type: ignore[arg-type]

    def close(self) -> None:
        for _, queue, _ in self._compiled.values():
            queue.wait_all()
        self._compiled.clear()


def _collect(request: Any, userdata: tuple[list, int]) -> None:
    outputs, index = userdata
    outputs[index] = np.array(request.get_output_tensor(0).data, dtype=np.float32)


def _pad_columns(array: np.ndarray, width: int, value: int) -> np.ndarray:
    """Right-pad the sequence axis; padded positions carry attention_mask 0."""
    if array.shape[1] >= width:
        return array
    out = np.full((array.shape[0], width), value, dtype=array.dtype)
    out[:, : array.shape[1]] = array
    return out


def measure_shape_modes(
    model_xml: Path, *, spec: ModelSpec, precision: str, samples: Sequence[ModelInputs], seconds: float = 1.0,
    int8_rest: str = "f32",
) -> dict[str, float]:
    """Items/s of each shape mode on the given batches; the build keeps the faster one."""
    results = {}
    for mode in SHAPE_MODES:
        engine = OpenVinoEngine(model_xml, spec=spec, precision=precision, shape_mode=mode, int8_rest=int8_rest)
        for batch in samples:  # warm-up: compiles every bucket the samples touch
            engine.forward(batch)
        items, rounds, start = 0, 0, time.perf_counter()
        # Up to `seconds`, and no more than 30 rounds: small models are judged in milliseconds.
        while time.perf_counter() - start < seconds and rounds < 30:
            for batch in samples:
                engine.forward(batch)
                items += batch.shape[0]
            rounds += 1
        results[mode] = items / (time.perf_counter() - start)
        engine.close()
    return results
