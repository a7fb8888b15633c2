# generated from the catalog by scripts/generate_models.py — do not edit
"""Truss Python model for japanese-reranker-cross-encoder-large-v1: a thin adapter over rerank_bundle's BundlePredictor.

Used when the bundle is deployed as a plain Python truss (catalog `bundle_variant: python`);
the default variant runs `rerank-bundle serve` instead. Payloads are recognised by shape,
the default route (/rerank) first; all scoring lives in the rerank_bundle runtime.
"""
from pathlib import Path
from typing import Any

from rerank_bundle.bundles import BundlePredictor


class Model:
    def __init__(self, **kwargs: Any) -> None:
        # truss passes the parsed config.yaml; model_metadata.rerank_bundle is our block.
        bundle_dir = Path(__file__).resolve().parents[1]
        self._predictor = BundlePredictor.from_truss_config(kwargs["config"], bundle_dir=bundle_dir)
        self._lazy_data_resolver = kwargs.get("lazy_data_resolver")

    def load(self) -> None:
        if self._lazy_data_resolver is not None:
            # Blocks until model_cache has put the weights under /app/model_cache.
            self._lazy_data_resolver.block_until_download_complete()
        self._predictor.load()

    async def predict(self, model_input: Any) -> Any:
        return await self._predictor.predict(model_input)
