"""`rerank-bundle build` and `rerank-bundle compare` (also scripts/build_engine.py and
scripts/compare_hf.py): argument parsing and printing only; the work is in artifacts.py
and compare.py."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

PRECISIONS = ("fp32", "fp16", "bf16", "int8", "fp8")
TARGETS = ("openvino", "onnxruntime", "tensorrt")


def _resolve(model: str, catalog: str | None) -> tuple[Any, Any]:
    from ..config import load_catalog
    from ..loading import inspect_checkpoint

    entry = load_catalog(catalog).resolve(model)
    return entry, inspect_checkpoint(entry)


def add_build_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="catalog name, hub id or local checkpoint dir")
    p.add_argument("--target", required=True, choices=TARGETS)
    p.add_argument("--precision", default="fp32", choices=PRECISIONS)
    p.add_argument("--out", default=None, help="cache root (default: $RERANK_BUNDLE_CACHE or ~/.cache/rerank-bundle); "
                   "the artifact goes to OUT/<model>/<target>-<precision>/")
    p.add_argument("--calibration", default=None, type=Path, help="JSONL {query, document} / {text}, or TSV, for int8/fp8")
    p.add_argument("--force", action="store_true", help="rebuild even if a matching artifact exists")
    p.add_argument("--catalog", default=None)


def cmd_build(args: argparse.Namespace) -> int:
    from ..compile.manifest import cache_root, unwritable
    from ..errors import EngineUnavailable

    entry, spec = _resolve(args.model, args.catalog)
    # A pre-build is for the cache the server will read: no temp-dir fallback here.
    root = cache_root(args.out, writable=False)
    problem = unwritable(root)
    if problem:
        print(f"error: cannot write the engine cache {root}: {problem}", file=sys.stderr)
        return 2
    from .artifacts import build_artifact

    try:
        artifact = build_artifact(spec, target=args.target, precision=args.precision, root=root,
                                  calibration_file=args.calibration, force=args.force)
    except EngineUnavailable as exc:
        print(f"error: cannot build {args.target}/{args.precision}: {exc}", file=sys.stderr)
        return 2
    _print_artifact(artifact.directory, artifact.manifest, reused=artifact.reused)
    return 0 if artifact.manifest.fidelity_passed is not False else 3


def _print_artifact(directory: Path, manifest: Any, *, reused: bool) -> None:
    from .fidelity import Fidelity

    state = "reused (nothing changed)" if reused else f"built in {manifest.build_seconds:.0f}s"
    print(f"{directory}: {state}; cache key {manifest.cache_key}")
    if manifest.fidelity:
        verdict = {True: "passes", False: "FAILS", None: "not judged"}[manifest.fidelity_passed]
        print(f"fidelity vs torch fp32: {Fidelity.from_dict(manifest.fidelity).summary()} ({verdict} the gate)")
    for key in ("shape_mode", "shape_mode_items_per_s", "fusions", "int8_fp32_scopes", "int8_rest"):
        if key in manifest.notes:
            print(f"{key}: {manifest.notes[key]}")


def add_compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="catalog name, hub id or local checkpoint dir")
    p.add_argument("--engines", default=None, help="comma list of engine:precision (default: all available)")
    p.add_argument("--groups", type=int, default=None, help="query groups of 16 candidates (default: all 16)")
    p.add_argument("--json", default=None, type=Path, help="also write the rows as JSON here")
    p.add_argument("--catalog", default=None)


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import CONFIGS, compare_engines, format_table

    entry, spec = _resolve(args.model, args.catalog)
    configs = CONFIGS
    if args.engines:
        configs = tuple(tuple(item.split(":", 1)) for item in args.engines.split(","))  # type: ignore[misc]
    rows = compare_engines(entry, spec, configs=configs, groups=args.groups)
    pairs = next((r.fidelity.pairs for r in rows if r.fidelity), 0)
    print(f"{spec.name} ({spec.kind.value}): {pairs} pairs vs HF transformers fp32")
    print(format_table(rows, pairs=pairs))
    if args.json:
        args.json.write_text(json.dumps([r.as_dict() for r in rows], indent=2))
    return 0


def register(sub: Any) -> None:
    """Add `build` and `compare` to the rerank-bundle CLI's subparsers."""
    p = sub.add_parser("build", help="compile a checkpoint into an engine artifact (ONNX → OpenVINO / ORT / TensorRT)")
    add_build_args(p)
    p.set_defaults(func=cmd_build)
    p = sub.add_parser("compare", help="fidelity report: every available engine vs HF transformers fp32")
    add_compare_args(p)
    p.set_defaults(func=cmd_compare)


def script_main(command: str, argv: Sequence[str] | None = None) -> int:
    """Entry for scripts/build_engine.py and scripts/compare_hf.py."""
    from ..cli import main

    return main([command, *(sys.argv[1:] if argv is None else argv)])
