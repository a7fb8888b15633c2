"""The models one server holds, and which one a request's `model` field picks."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..errors import ConfigError, ModelNotFoundError
from ..service import Reranker

log = logging.getLogger(__name__)


class ModelRegistry:
    """Loaded models by name. The first one is the default.

    A request may name a model by catalog name, hub id, local path or directory name (case
    does not matter). With one model loaded every request goes to it whatever it names, as
    single-model servers (TEI, BEI) behave; with several, an unknown name is a 404.
    """

    def __init__(self, models: Sequence[Reranker], *, aliases: dict[str, Sequence[str]] | None = None) -> None:
        if not models:
            raise ConfigError("a server needs at least one model")
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise ConfigError(f"each model may be served once, got {', '.join(names)}")
        self.models: dict[str, Reranker] = {m.name: m for m in models}
        self._lookup: dict[str, Reranker] = {}
        for model in models:
            for alias in _aliases(model, (aliases or {}).get(model.name, ())):
                self._lookup.setdefault(alias.lower(), model)

    @property
    def default(self) -> Reranker:
        return next(iter(self.models.values()))

    @property
    def names(self) -> list[str]:
        return list(self.models)

    def __iter__(self) -> Iterator[Reranker]:
        return iter(self.models.values())

    def __len__(self) -> int:
        return len(self.models)

    def pick(self, requested: str | None) -> Reranker:
        if len(self.models) == 1:
            return self.default
        if not requested:
            return self.default
        found = self._lookup.get(requested.strip().lower())
        if found is None:
            raise ModelNotFoundError(f"model {requested!r} is not served here; loaded models: {', '.join(self.names)}")
        return found

    def close(self) -> None:
        for model in self.models.values():
            try:
                model.close()
            except Exception:  # noqa: BLE001 - closing one model must not stop closing the others
                log.exception("closing %s failed", model.name)


def _aliases(model: Reranker, extra: Sequence[str]) -> list[str]:
    entry = model.spec.entry
    out = [model.name, *extra]
    if entry.source.hf:
        out += [entry.source.hf, entry.source.hf.split("/")[-1]]
    if entry.source.path:
        out += [entry.source.path, Path(entry.source.path).name]
    return out


def load_registry(
    specs: Sequence[str | None], *, load: Callable[[str | None], Reranker]
) -> ModelRegistry:
    """Load each spec (catalog name, hub id, directory; None: the catalog default) with `load`;
    the spec as typed is also accepted as the model's name in requests."""
    models: list[Reranker] = []
    aliases: dict[str, list[str]] = {}
    try:
        for spec in specs:
            model = load(spec)
            models.append(model)
            aliases.setdefault(model.name, []).extend([spec] if spec else [])
        return ModelRegistry(models, aliases=aliases)
    except BaseException:  # a half-loaded server frees what it loaded
        for model in models:
            model.close()
        raise
