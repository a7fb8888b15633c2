"""Fidelity report: the same query groups through HF `transformers` fp32 and through every
engine/precision available here (via the runtime: tokenizer, batcher, engine, postprocess),
with max |Δ score|, Spearman ρ, top-1 / top-10 agreement and time per engine.

The reference is independent of the runtime: the HF tokenizer and the HF model class,
fp32, eager attention; for embedders the checkpoint's own pooling is applied to it.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import ModelEntry, Precision
from ..errors import EngineUnavailable
from ..loading import ModelSpec
from ..types import ModelKind
from .calibration import QueryGroup, evaluation_groups
from .fidelity import Fidelity, GroupOutputs, compare, score_rows

log = logging.getLogger(__name__)

# (engine, precision) in the order rows are printed; unavailable ones are reported as such.
CONFIGS = (
    ("torch", "fp32"), ("torch", "bf16"), ("torch", "int8"),
    ("openvino", "fp32"), ("openvino", "bf16"), ("openvino", "int8"),
    ("onnxruntime", "fp32"), ("onnxruntime", "int8"),
    ("torch-cuda", "fp16"), ("tensorrt", "fp16"), ("tensorrt", "fp8"),
)


@dataclass(frozen=True)
class Row:
    engine: str
    precision: str
    fidelity: Fidelity | None
    seconds: float
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "precision": self.precision, "seconds": round(self.seconds, 4),
                "fidelity": self.fidelity.as_dict() if self.fidelity else None, "error": self.error}


def hf_reference(spec: ModelSpec, groups: list[QueryGroup]) -> GroupOutputs:
    """transformers fp32 (eager attention) with its own tokenizer: the ground truth."""
    import torch
    from transformers import AutoTokenizer

    from ..engines.torch_modules import build_scoring_module

    tokenizer = AutoTokenizer.from_pretrained(str(spec.path), trust_remote_code=spec.trust_remote_code)
    module = build_scoring_module(spec, dtype=torch.float32, attn="eager")
    # Segment ids whenever the model has a segment embedding, even if the tokenizer's
    # model_input_names leave them out (BERT cross-encoders are trained with them).
    options = {"padding": True, "max_length": spec.max_length, "return_tensors": "pt",
               "return_token_type_ids": spec.uses_token_type_ids}
    scores, rows = [], []
    for group in groups:
        if spec.kind is ModelKind.EMBED:
            enc = tokenizer([group.query, *group.documents], truncation=True, **options)
        else:
            enc = tokenizer([group.query] * len(group.documents), list(group.documents), truncation="only_second", **options)
        with torch.inference_mode():
            out = module(enc["input_ids"], enc["attention_mask"], enc.get("token_type_ids")).float().numpy()
        group_score, group_rows = score_rows(spec.kind, out)
        scores.append(group_score)
        rows.append(group_rows)
    return GroupOutputs(scores=scores, rows=rows)


def runtime_outputs(ranker: Any, groups: list[QueryGroup]) -> GroupOutputs:
    """The same groups through a loaded `Reranker`, as a client would call it."""
    spec = ranker.spec
    scores: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    for group in groups:
        if spec.kind is ModelKind.EMBED:
            out = np.asarray(ranker.embed([group.query, *group.documents], normalize=True), dtype=np.float32)
        elif spec.kind is ModelKind.RERANK:
            ranked = ranker.rerank(group.query, group.documents)
            by_index = np.zeros(len(group.documents), dtype=np.float32)
            for doc in ranked:
                by_index[doc.index] = doc.score
            scores.append(by_index)
            rows.append(by_index[:, None])
            continue
        else:
            preds = ranker.predict([(group.query, d) for d in group.documents])
            labels = [spec.label(i) for i in range(spec.num_labels)]
            out = np.array([[{p.label: p.score for p in row}[lab] for lab in labels] for row in preds], dtype=np.float32)
            scores.append(out[:, -1])
            rows.append(out)
            continue
        group_score, group_rows = score_rows(spec.kind, out)
        scores.append(group_score)
        rows.append(group_rows)
    return GroupOutputs(scores=scores, rows=rows)


def run_config(entry: ModelEntry, engine: str, precision: str, groups: list[QueryGroup], reference: GroupOutputs) -> Row:
    from ..service import Reranker

    name, device = ("torch", "cuda") if engine == "torch-cuda" else (engine, "cpu" if engine == "torch" else None)
    try:
        ranker = Reranker.load(entry, engine=name, device=device, precision=Precision(precision))
    except EngineUnavailable as exc:
        return Row(engine, precision, None, 0.0, error=str(exc))
    try:
        runtime_outputs(ranker, groups[:1])  # warm-up: first-call allocations and compiles
        start = time.perf_counter()
        outputs = runtime_outputs(ranker, groups)
        seconds = time.perf_counter() - start
    finally:
        ranker.close()
    return Row(engine, precision, compare(reference, outputs, kind=ranker.spec.kind), seconds)


def compare_engines(
    entry: ModelEntry, spec: ModelSpec, *, configs: tuple[tuple[str, str], ...] = CONFIGS, groups: int | None = None
) -> list[Row]:
    sample = evaluation_groups(groups)
    reference = hf_reference(spec, sample)
    return [run_config(entry, engine, precision, sample, reference) for engine, precision in configs]


def format_table(rows: list[Row], *, pairs: int) -> str:
    head = f"{'engine':12} {'prec':5} {'max|Δ|':>9} {'ρ':>7} {'top1':>5} {'top10':>6} {'min cos':>8} {'time s':>7} {'pairs/s':>8}"
    lines = [head, "-" * len(head)]
    for row in rows:
        if row.fidelity is None:
            lines.append(f"{row.engine:12} {row.precision:5} unavailable: {row.error[:90]}")
            continue
        f = row.fidelity
        cos = f"{f.min_cosine:.5f}" if f.min_cosine is not None else "-"
        lines.append(
            f"{row.engine:12} {row.precision:5} {f.max_abs_delta:9.2e} {f.spearman:7.4f} {f.top1_agreement:5.2f} "
            f"{f.top10_agreement:6.2f} {cos:>8} {row.seconds:7.2f} {pairs / row.seconds:8.1f}"
        )
    return "\n".join(lines)
