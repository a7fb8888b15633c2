"""Benchmark output: results.json, a markdown table, and a PNG chart."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


def markdown(results: dict[str, Any]) -> str:
    lines = ["# Benchmark results\n", f"Machine: {results['machine']}  ", f"Model: {results['model']}  ",
             f"Date: {results['date']}\n"]
    for wl in results["workloads"]:
        lines += _table(
            f"{wl['name']} ({wl['documents']} docs x ~{wl['doc_tokens']} tokens)",
            ["system", "precision", "pairs/s", "x CrossEncoder", "p50 ms", "p99 ms", "% of FLOP limit", "max abs d",
             "top-10 agr. (synthetic)"],
            [[r["system"], r["precision"], f"{r['pairs_per_s']:.1f}", f"{r.get('speedup_vs_crossencoder', 0):.2f}",
              f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", _pct(r.get("flop_fraction")), _num(r.get("max_abs_delta")),
              _num(r.get("top10_agreement"))] for r in wl["rows"]],
            left=2, trailer=[f"\nSkipped {skip['system']}: {skip['reason']}" for skip in wl.get("skipped", [])])
    if results.get("http"):
        lines += _table(
            "Through the HTTP server (/rerank, latency workload)", ["concurrency", "pairs/s", "p50 ms", "p99 ms"],
            [[r["concurrency"], f"{r['pairs_per_s']:.1f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}"]
             for r in results["http"]["rows"]],
            left=0, intro=f"Engine: {results['http']['engine']}\n")
    if results.get("fixed_set_fidelity"):
        lines += _table(
            "Fidelity on the fixed relevance set (cross-encoder, vs torch fp32)",
            ["system", "precision", "max abs d", "top-10 agr.", "Spearman"],
            [[r["system"], r["precision"], f"{r['max_abs_delta']:.4f}", f"{r['top10_agreement']:.2f}", f"{r['spearman']:.4f}"]
             for r in results["fixed_set_fidelity"]], left=2)
    if results.get("embedder_fidelity"):
        lines += _table(
            "Fidelity on real weights (all-MiniLM-L6-v2, cosine reranking)",
            ["engine", "precision", "min cosine vs fp32", "top-10 agr.", "Spearman"],
            [[r["engine"], r["precision"], f"{r['min_cosine']:.5f}", f"{r['top10_agreement']:.2f}", f"{r['spearman']:.4f}"]
             for r in results["embedder_fidelity"]], left=2)
    if results.get("targets"):
        lines += ["## Targets\n"] + [f"- {t['name']}: {t['value']} ({'met' if t['met'] else 'NOT met'})" for t in results["targets"]]
    return "\n".join(lines) + "\n"


def _table(title: str, header: list[str], rows: list[list[Any]], *, left: int, intro: str | None = None,
           trailer: list[str] | None = None) -> list[str]:
    """One markdown section: heading, optional intro line, a table whose first `left`
    columns are left-aligned (the rest right-aligned), optional lines after it."""
    align = ["---" if i < left else "---:" for i in range(len(header))]
    out = [f"## {title}\n"] + ([intro] if intro else [])
    out += [_row(header), "|" + "|".join(align) + "|"] + [_row(row) for row in rows]
    return out + (trailer or []) + [""]


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.0f}%"


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.4f}"


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = results["workloads"]
    fig, axes = plt.subplots(1, len(workloads), figsize=(7 * len(workloads), 5))
    for ax, wl in zip(axes if len(workloads) > 1 else [axes], workloads):
        labels = [f"{r['system']}\n{r['precision']}" for r in wl["rows"]]
        ax.barh(labels, [r["pairs_per_s"] for r in wl["rows"]], color="#4477aa")
        ax.set_title(f"{wl['name']}: pairs/s (higher is better)")
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
