"""Engines: one forward pass per batch. Heavy libraries are imported only by the engine chosen."""
from .base import Engine, EngineLimits, EngineReport, ModelInputs

__all__ = ["Engine", "EngineLimits", "EngineReport", "ModelInputs"]
