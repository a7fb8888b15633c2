"""Ahead-of-time builds: torch → ONNX → OpenVINO / ONNX Runtime (CPU) or TensorRT (GPU).

Every builder starts from the same ONNX export of `ScoringModule` (pooling in-graph) and
writes a manifest beside its artifact. Heavy libraries are imported inside the builder
that needs them, so importing this package costs nothing.
"""
from __future__ import annotations


class BuildError(RuntimeError):
    """A build step failed or produced an artifact that does not match torch."""
