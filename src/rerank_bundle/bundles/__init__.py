"""Truss bundles: the typed block in a bundle's config, the predictor its model.py uses,
and the generator that renders `models/<name>/` from the catalog.

Importing this package is cheap: the predictor (numpy, then torch on load), the generator
(jinja2) and the config lint (truss) load only when used.
"""
from .settings import BLOCK_KEY, BundleSettings, read_bundle_dir, settings_from_config

__all__ = ["BLOCK_KEY", "BundlePredictor", "BundleSettings", "read_bundle_dir", "settings_from_config"]


def __getattr__(name: str):
    if name == "BundlePredictor":
        from .predictor import BundlePredictor

        return BundlePredictor
    raise AttributeError(name)
