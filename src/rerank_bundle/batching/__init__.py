"""Token-budget batching: many callers' items packed into forward passes on one worker thread."""
from .batcher import BatchStats, ItemOutputs, TokenBudgetBatcher
from .planner import PlanItem, plan_batch

__all__ = ["BatchStats", "ItemOutputs", "PlanItem", "TokenBudgetBatcher", "plan_batch"]
