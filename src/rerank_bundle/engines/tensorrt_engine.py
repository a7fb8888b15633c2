"""TensorRT engine: a serialized plan run on one CUDA stream with preallocated buffers.

One execution context per optimization profile, each bound to its profile once at load
and owning device + pinned host buffers sized for that profile's largest shape, so a
forward pass never allocates and never switches profiles. The contexts share one scratch
(activation) allocation: they all run on the same stream, one at a time, so their
lifetimes never overlap. A batch picks the context whose profile box is tightest around
its shape (`shape_profiles.choose_profile`); a batch larger than that profile is split.

API notes (TensorRT 10.x Python bindings, checked against the bindings' docstrings):
`create_execution_context(ExecutionContextAllocationStrategy.USER_MANAGED)` +
`set_device_memory(ptr, size)` for the shared scratch, `set_optimization_profile_async`,
name-based I/O (`num_io_tensors`, `get_tensor_name`, `get_tensor_mode`,
`set_input_shape`, `set_tensor_address`) and `execute_async_v3(stream_handle)`.
Heavy imports (tensorrt, torch.cuda) happen only when this engine is loaded.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..config import Precision
from ..errors import BackendError, EngineUnavailable
from ..loading import ModelSpec
from .base import EngineLimits, ModelInputs, require_module
from .shape_profiles import ShapeProfile, choose_profile, split_batch

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'rerank-bundle[gpu-engines]' (tensorrt, onnx, nvidia-modelopt)"
PAD_MULTIPLE = 8  # tensor-core friendly; profile bucket edges are multiples of this
PLAN_FILE = "model.plan"


def import_tensorrt() -> Any:
    return require_module("tensorrt", install=INSTALL_HINT, name="TensorRT")


def import_torch_cuda() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a core dependency
        raise EngineUnavailable("the TensorRT engine uses torch for CUDA buffers: pip install torch") from exc
    if not torch.cuda.is_available():
        raise EngineUnavailable("no CUDA GPU visible to torch")
    return torch


def _torch_dtype(trt: Any, torch: Any, dtype: Any) -> Any:
    table = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
             "int64": torch.int64, "int32": torch.int32, "bool": torch.bool, "int8": torch.int8}
    for name, torch_dtype in table.items():
        if getattr(trt, name, None) == dtype:
            return torch_dtype
    raise EngineUnavailable(f"TensorRT engine has an I/O tensor of unsupported type {dtype}")


class _ProfileSlot:
    """The context and buffers of one optimization profile."""

    def __init__(self, owner: "TensorRTEngine", index: int, profile: ShapeProfile) -> None:
        trt, torch, engine, stream = owner._trt, owner._torch, owner._engine, owner._stream
        self.profile = profile
        context = engine.create_execution_context(trt.ExecutionContextAllocationStrategy.USER_MANAGED)
        if context is None:
            raise EngineUnavailable("TensorRT could not create an execution context")
        if hasattr(context, "set_device_memory"):  # TensorRT >= 10.1
            context.set_device_memory(owner._scratch.data_ptr(), owner._scratch.numel())
        else:
            context.device_memory = owner._scratch.data_ptr()
        # The bindings return bool; compare with False so a None from another version is no error.
        if context.set_optimization_profile_async(index, stream.cuda_stream) is False:
            raise EngineUnavailable(f"TensorRT rejected optimization profile {index}")
        self.context = context
        tokens = profile.max_batch * profile.max_seq
        self.device: dict[str, Any] = {}
        self.host: dict[str, Any] = {}
        for name in owner._input_names:
            dtype = _torch_dtype(trt, torch, engine.get_tensor_dtype(name))
            self.device[name] = torch.empty(tokens, dtype=dtype, device=owner.device)
            self.host[name] = torch.empty(tokens, dtype=dtype, pin_memory=True)
            context.set_tensor_address(name, self.device[name].data_ptr())
        out_dtype = _torch_dtype(trt, torch, engine.get_tensor_dtype(owner._output_name))
        self.out_device = torch.empty(profile.max_batch * owner._out_width, dtype=out_dtype, device=owner.device)
        self.out_host = torch.empty(profile.max_batch * owner._out_width, dtype=out_dtype, pin_memory=True)
        context.set_tensor_address(owner._output_name, self.out_device.data_ptr())

    def run(self, owner: "TensorRTEngine", arrays: dict[str, np.ndarray], start: int, stop: int) -> np.ndarray:
        torch, stream = owner._torch, owner._stream
        batch, seq = stop - start, next(iter(arrays.values())).shape[1]
        count = batch * seq
        with torch.cuda.stream(stream):
            for name, array in arrays.items():
                host = self.host[name][:count]
                np.copyto(host.numpy().reshape(batch, seq), array[start:stop], casting="unsafe")
                self.device[name][:count].copy_(host, non_blocking=True)
                if self.context.set_input_shape(name, (batch, seq)) is False:
                    raise BackendError(f"TensorRT rejected input shape {(batch, seq)} for {name}")
            if self.context.execute_async_v3(stream.cuda_stream) is False:
                raise BackendError("TensorRT execution failed")
            width = owner._out_width
            self.out_host[: batch * width].copy_(self.out_device[: batch * width], non_blocking=True)
        stream.synchronize()
        return self.out_host[: batch * width].view(batch, width).to(torch.float32).numpy().copy()


class TensorRTEngine:
    """A TensorRT plan for one model; `forward` follows the `Engine` protocol."""

    name = "tensorrt"

    def __init__(self, plan_path: str | Path, *, precision: str, max_seq_len: int | None = None) -> None:
        self._trt = trt = import_tensorrt()
        self._torch = torch = import_torch_cuda()
        self.device = f"cuda:{torch.cuda.current_device()}"
        self.dtype = precision
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(Path(plan_path).read_bytes())
        if self._engine is None:
            raise EngineUnavailable(f"TensorRT could not deserialize {plan_path} (built by another TensorRT version?)")
        self._read_io()
        self.profiles = self._read_profiles()
        self._stream = torch.cuda.Stream(device=self.device)
        scratch = getattr(self._engine, "device_memory_size_v2", None) or self._engine.device_memory_size
        self._scratch = torch.empty(max(int(scratch), 1), dtype=torch.uint8, device=self.device)
        self._slots = [_ProfileSlot(self, i, p) for i, p in enumerate(self.profiles)]
        self._stream.synchronize()
        self._top_seq = top = max(p.max_seq for p in self.profiles)
        self.limits = EngineLimits(
            max_batch_size=max(p.max_batch for p in self.profiles),
            max_seq_len=min(top, max_seq_len) if max_seq_len else top,
            pad_to_multiple_of=PAD_MULTIPLE,
        )
        log.info("tensorrt engine %s: %d profiles, scratch %.0f MiB", plan_path, len(self.profiles), scratch / 2**20)

    def _read_io(self) -> None:
        trt, engine = self._trt, self._engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self._input_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        unknown = set(self._input_names) - {"input_ids", "attention_mask", "token_type_ids"}
        if unknown or "input_ids" not in self._input_names or len(outputs) != 1:
            raise EngineUnavailable(f"unexpected TensorRT I/O: inputs {self._input_names}, outputs {outputs}")
        self._output_name = outputs[0]
        dims = list(engine.get_tensor_shape(self._output_name))[1:]
        if any(d < 0 for d in dims):
            raise EngineUnavailable(f"output {self._output_name} has dynamic non-batch dims {dims}")
        self._out_width = int(np.prod(dims)) if dims else 1

    def _read_profiles(self) -> tuple[ShapeProfile, ...]:
        """The profiles as the plan stores them (the plan, not the manifest, is the truth)."""
        profiles = []
        for index in range(self._engine.num_optimization_profiles):
            low, opt, high = self._engine.get_tensor_profile_shape("input_ids", index)
            profiles.append(ShapeProfile(low[0], opt[0], high[0], low[1], opt[1], high[1]))
        return tuple(profiles)

    def _arrays(self, inputs: ModelInputs, seq: int) -> dict[str, np.ndarray]:
        feeds = inputs.as_feeds(self._input_names)
        return {name: feeds[name][:, :seq] for name in self._input_names}

    def _fit_length(self, inputs: ModelInputs) -> int:
        """Padded length to run; trailing all-padding columns past the top profile are cut."""
        seq, top = inputs.shape[1], self._top_seq
        if seq <= top:
            return seq
        longest = int(inputs.attention_mask.sum(axis=1).max())
        if longest > top:
            raise BackendError(f"sequence of {longest} tokens exceeds the engine's {top}")
        return top

    def forward(self, inputs: ModelInputs) -> np.ndarray:
        batch = inputs.shape[0]
        seq = self._fit_length(inputs)
        index = choose_profile(self.profiles, batch, seq)
        if index is None:
            raise BackendError(f"no TensorRT profile accepts sequence length {seq}")
        slot = self._slots[index]
        arrays = self._arrays(inputs, seq)
        parts = [slot.run(self, arrays, a, b) for a, b in split_batch(batch, slot.profile.max_batch)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def close(self) -> None:
        self._slots = []
        self._engine = None
        self._scratch = None
        self._torch.cuda.empty_cache()


def profile_summary(profiles: Sequence[ShapeProfile]) -> str:
    return ", ".join(f"seq {p.min_seq}-{p.max_seq} x batch <= {p.max_batch}" for p in profiles)


@dataclass(frozen=True)
class GpuIdentity:
    """The GPU a plan is built for and runs on (plans are not portable across GPU models)."""

    name: str
    compute_capability: tuple[int, int]

    @property
    def capability(self) -> str:
        return f"{self.compute_capability[0]}.{self.compute_capability[1]}"

    @property
    def supports_fp8(self) -> bool:
        """FP8 tensor cores: Ada (8.9) and Hopper (9.0) onwards."""
        return self.compute_capability >= (8, 9)

    @classmethod
    def current(cls, torch: Any) -> "GpuIdentity":
        index = torch.cuda.current_device()
        major, minor = torch.cuda.get_device_capability(index)
        return cls(torch.cuda.get_device_name(index), (int(major), int(minor)))


def trt_precisions(precision: Precision, *, fp8_capable: bool) -> list[str]:
    """Plans to try, best first. auto takes an fp8 plan only if one was built and passed
    the fidelity gate, and otherwise fp16."""
    if precision is Precision.AUTO:
        return ["fp8", "fp16"] if fp8_capable else ["fp16"]
    if precision is Precision.FP8 and not fp8_capable:
        raise EngineUnavailable("fp8 needs a GPU of compute capability 8.9 or newer (Ada, Hopper)")
    if precision not in (Precision.FP16, Precision.FP8):
        raise EngineUnavailable(f"TensorRT engines are built in fp16 or fp8, not {precision.value}")
    return [precision.value]


def load_tensorrt_engine(
    spec: ModelSpec, *, cache_dir: str | Path | None = None, precision: Precision = Precision.AUTO,
    allow_build: bool | None = None, skipped: list[tuple[str, str]] | None = None,
) -> TensorRTEngine:
    """A TensorRT engine for `spec` built for this GPU, from the artifact cache.

    Raises EngineUnavailable (selection falls back) when TensorRT or CUDA is missing, or no
    cached plan matches this GPU, TensorRT version, checkpoint and profile limits and none
    can be built. A missing plan is built when building is allowed ($RERANK_BUNDLE_BUILD,
    default on); under auto only the fp16 plan is built at start (fp8 needs calibration and
    minutes), an fp8 plan is used if already built, and a plan that missed the fidelity gate
    is passed over (torch CUDA is next in the chain).
    """
    from .cpu_compiled import load_compiled

    import_tensorrt()
    gpu = GpuIdentity.current(import_torch_cuda())
    auto = precision is Precision.AUTO
    try:
        return load_compiled(  # type: ignore[return-value]
            spec, target="tensorrt", candidates=trt_precisions(precision, fp8_capable=gpu.supports_fp8), auto=auto,
            construct=lambda name, artifact: TensorRTEngine(artifact.path(PLAN_FILE), precision=name,
                                                            max_seq_len=spec.max_length),
            cache_dir=cache_dir, allow_build=allow_build, skipped=skipped,
            may_build=lambda name: not auto or name == "fp16", last_is_reference=False,
        )
    except EngineUnavailable as exc:
        raise EngineUnavailable(f"no usable TensorRT plan for {spec.name} on {gpu.name}: {exc}") from exc
