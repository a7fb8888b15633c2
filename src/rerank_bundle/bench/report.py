"""Benchmark output: results.json, a markdown table, and a PNG chart."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


def markdown(results: dict[str, Any]) -> str:
    lines = [f"# Benchmark results\n", f"Machine: {results['machine']}  ", f"Model: {results['model']}  ",
             f"Date: {results['date']}\n"]
    for wl in results["workloads"]:
        lines += [f"## {wl['name']} ({wl['documents']} docs x ~{wl['doc_tokens']} tokens)\n",
                  "| system | precision | pairs/s | x CrossEncoder | p50 ms | p99 ms | % of FLOP limit | max abs d | top-10 agr. (synthetic) |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for row in wl["rows"]:
            lines.append(
                f"| {row['system']} | {row['precision']} | {row['pairs_per_s']:.1f} | {row.get('speedup_vs_crossencoder', 0):.2f} "
                f"| {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {_pct(row.get('flop_fraction'))} "
                f"| {_num(row.get('max_abs_delta'))} | {_num(row.get('top10_agreement'))} |"
            )
        for skip in wl.get("skipped", []):
            lines.append(f"\nSkipped {skip['system']}: {skip['reason']}")
        lines.append("")
    if results.get("http"):
        lines += ["## Through the HTTP server (/rerank, latency workload)\n",
                  f"Engine: {results['http']['engine']}\n", "| concurrency | pairs/s | p50 ms | p99 ms |", "|---:|---:|---:|---:|"]
        for row in results["http"]["rows"]:
            lines.append(f"| {row['concurrency']} | {row['pairs_per_s']:.1f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} |")
        lines.append("")
    if results.get("fixed_set_fidelity"):
        lines += ["## Fidelity on the fixed relevance set (cross-encoder, vs torch fp32)\n",
                  "| system | precision | max abs d | top-10 agr. | Spearman |", "|---|---|---:|---:|---:|"]
        for row in results["fixed_set_fidelity"]:
            lines.append(f"| {row['system']} | {row['precision']} | {row['max_abs_delta']:.4f} | {row['top10_agreement']:.2f} | {row['spearman']:.4f} |")
        lines.append("")
    if results.get("embedder_fidelity"):
        lines += ["## Fidelity on real weights (all-MiniLM-L6-v2, cosine reranking)\n",
                  "| engine | precision | min cosine vs fp32 | top-10 agr. | Spearman |", "|---|---|---:|---:|---:|"]
        for row in results["embedder_fidelity"]:
            lines.append(f"| {row['engine']} | {row['precision']} | {row['min_cosine']:.5f} | {row['top10_agreement']:.2f} | {row['spearman']:.4f} |")
        lines.append("")
    if results.get("targets"):
        lines += ["## Targets\n"] + [f"- {t['name']}: {t['value']} ({'met' if t['met'] else 'NOT met'})" for t in results["targets"]]
    return "\n".join(lines) + "\n"


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
