"""`rerank-bundle` command line: a thin adapter over the runtime, the server and the builders."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Sequence

from .errors import ConfigError, RerankBundleError


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="catalog name, hub id or local dir (default: the catalog default)")
    p.add_argument("--engine", default=None, help="auto | torch | openvino | onnxruntime | tensorrt")
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: auto)")
    p.add_argument("--precision", default=None, help="auto | fp32 | fp16 | bf16 | int8 | fp8")
    p.add_argument("--catalog", default=None, help="path to the catalog config.yaml")


def _load(args: argparse.Namespace):
    from .config import load_catalog
    from .service import Reranker

    catalog = load_catalog(args.catalog) if args.catalog else None
    return Reranker.load(args.model, catalog=catalog, engine=args.engine, device=args.device, precision=args.precision)


def cmd_models(args: argparse.Namespace) -> int:
    from .config import load_catalog

    catalog = load_catalog(args.catalog)
    if args.json:
        rows = [
            {"name": e.name, "default": e.name == catalog.default_model, **e.model_dump(mode="json", exclude={"name"})}
            for e in catalog.models
        ]
        print(json.dumps(rows, indent=2))
        return 0
    for entry in catalog.models:
        marker = "*" if entry.name == catalog.default_model else " "
        kind = entry.kind.value if entry.kind else "auto"
        print(f"{marker} {entry.name:42} {kind:8} {entry.source.describe()}")
    return 0


def cmd_rerank(args: argparse.Namespace) -> int:
    ranker = _load(args)
    try:
        ranked = ranker.rerank(
            args.query, args.documents, top_n=args.top_n, raw_scores=args.raw_scores,
            truncate=not args.no_truncate, return_text=args.return_text,
            truncation_direction=args.truncation_direction, max_chunks_per_doc=args.max_chunks_per_doc,
        )
    finally:
        ranker.close()
    rows = [{"index": r.index, "score": r.score, **({"text": r.text} if r.text is not None else {})} for r in ranked]
    print(json.dumps(rows, indent=2 if args.pretty else None, ensure_ascii=False))
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    ranker = _load(args)
    try:
        vectors = ranker.embed(args.texts, dimensions=args.dimensions)
    finally:
        ranker.close()
    print(json.dumps(vectors))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    ranker = _load(args)
    try:
        inputs = [tuple(t.split(args.pair_separator, 1)) if args.pair_separator in t else t for t in args.inputs]
        preds = ranker.predict(inputs, raw_scores=args.raw_scores)
    finally:
        ranker.close()
    print(json.dumps([[{"label": p.label, "score": p.score} for p in row] for row in preds], ensure_ascii=False))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import serve

    return serve(args)


def cmd_generate(args: argparse.Namespace) -> int:
    from .bundles.generate import run

    return run(check=args.check, catalog=args.catalog, out=args.out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rerank-bundle", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list the catalog (* marks the default model)")
    p.add_argument("--catalog", default=None)
    p.add_argument("--json", action="store_true", help="print every entry with all its settings as JSON")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("rerank", help="rank documents for a query; prints the TEI /rerank JSON array")
    _add_model_args(p)
    p.add_argument("--query", required=True)
    p.add_argument("documents", nargs="+")
    p.add_argument("--top-n", type=int, default=None)
    p.add_argument("--raw-scores", action="store_true")
    p.add_argument("--return-text", action="store_true")
    p.add_argument("--no-truncate", action="store_true", help="fail instead of cutting over-long inputs")
    p.add_argument("--truncation-direction", default="right", help="right (keep the start) | left (keep the end)")
    p.add_argument("--max-chunks-per-doc", type=int, default=None, help="score long documents by their best chunk")
    p.add_argument("--pretty", action="store_true")
    p.set_defaults(func=cmd_rerank)

    p = sub.add_parser("embed", help="embed texts; prints a JSON list of vectors")
    _add_model_args(p)
    p.add_argument("texts", nargs="+")
    p.add_argument("--dimensions", type=int, default=None)
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("predict", help="classify texts or 'text|||pair' inputs; prints label scores")
    _add_model_args(p)
    p.add_argument("inputs", nargs="+")
    p.add_argument("--pair-separator", default="|||")
    p.add_argument("--raw-scores", action="store_true")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("serve", help="serve models over HTTP")
    p.add_argument("--model", action="append", default=None, help="repeat to serve several models")
    p.add_argument("--engine", default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--precision", default=None)
    p.add_argument("--catalog", default=None)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key", action="append", default=None, help="repeat for several keys")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("generate", help="render the Truss bundles models/<name>/ from the catalog")
    p.add_argument("--check", action="store_true", help="exit 1 naming files that are not up to date")
    p.add_argument("--catalog", default=None)
    p.add_argument("--out", default=None, help="bundle folder (default: models/ beside the catalog)")
    p.set_defaults(func=cmd_generate)

    from .compile.commands import register as register_build_commands  # build, compare

    register_build_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (ConfigError, RerankBundleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
