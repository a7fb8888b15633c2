"""PyTorch engine: the reference path and the fallback for every other engine.

CPU runs fp32 by default (bf16 and dynamic int8 opt-in); CUDA runs fp16 with SDPA
attention. Everything under `torch.inference_mode`.
"""
from __future__ import annotations

import logging

import numpy as np
import torch

from ..config import Precision
from ..errors import EngineUnavailable
from ..loading import ModelSpec
from .base import EngineLimits, ModelInputs
from .first_token import FirstTokenLayer
from .torch_modules import build_scoring_module

log = logging.getLogger(__name__)

_DTYPES = {Precision.FP32: torch.float32, Precision.FP16: torch.float16, Precision.BF16: torch.bfloat16}


def resolve_device(device: str | None) -> str:
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EngineUnavailable("CUDA requested but torch sees no GPU")
    return device


def resolve_precision(precision: Precision, device: str) -> Precision:
    if precision is Precision.AUTO:
        return Precision.FP16 if device.startswith("cuda") else Precision.FP32
    if precision is Precision.FP8:
        raise EngineUnavailable("fp8 needs the TensorRT engine")
    if precision is Precision.FP16 and device == "cpu":
        raise EngineUnavailable("fp16 on CPU is slower than fp32 in torch; use bf16 or int8")
    if precision is Precision.INT8 and device != "cpu":
        raise EngineUnavailable("torch int8 (dynamic quantization) runs on CPU only")
    return precision


class TorchEngine:
    name = "torch"

    def __init__(
        self, spec: ModelSpec, *, device: str | None = None, precision: Precision = Precision.AUTO, threads: int | None = None
    ) -> None:
        self.device = resolve_device(device)
        chosen = resolve_precision(precision, self.device)
        self.dtype = chosen.value
        if self.device == "cpu" and threads:
            torch.set_num_threads(threads)
        module = build_scoring_module(spec, dtype=_DTYPES.get(chosen, torch.float32))
        if chosen is Precision.INT8:
            module = torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)
        self._module = module.to(self.device)
        # Whether the last layer runs for token 0 only (FLOP counts in the benchmarks use it).
        self.first_token_last_layer = any(isinstance(m, FirstTokenLayer) for m in module.modules())
        self._cuda = self.device.startswith("cuda")
        self.limits = EngineLimits(max_seq_len=spec.max_length, pad_to_multiple_of=8 if self._cuda else 1)
        log.info("torch engine: %s on %s (%s)", spec.name, self.device, self.dtype)

    def forward(self, inputs: ModelInputs) -> np.ndarray:
        with torch.inference_mode():
            ids = self._tensor(inputs.input_ids)
            mask = self._tensor(inputs.attention_mask)
            types = self._tensor(inputs.token_type_ids) if inputs.token_type_ids is not None else None
            out = self._module(ids, mask, types)
            return out.float().cpu().numpy()

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if self._cuda:
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor

    def close(self) -> None:
        self._module = None  # type: ignore[assignment]
        if self._cuda:
            torch.cuda.empty_cache()
