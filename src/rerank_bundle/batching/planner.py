"""Pure batch planning: which waiting items go into the next forward pass.

The padded size of a batch (items x longest item, rounded up to the engine's multiple)
must stay within the token budget. The oldest waiting item is always in the next batch,
so nothing starves; around it the planner adds the items nearest in length, which keeps
padding low when lengths are mixed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True, slots=True)
class PlanItem:
    key: object  # opaque to the planner (the batcher's (request, slot))
    length: int
    arrival: int  # monotonically increasing; lower is older


def padded_length(length: int, multiple: int) -> int:
    return -(-length // multiple) * multiple if multiple > 1 else length


def plan_batch(
    items: Sequence[PlanItem], *, max_tokens: int, max_batch_size: int, pad_multiple: int = 1
) -> list[PlanItem]:
    """The next batch: the oldest item plus neighbours in length while the budget allows."""
    if not items:
        return []
    ordered = sorted(items, key=lambda it: (it.length, it.arrival))
    start = min(range(len(ordered)), key=lambda i: ordered[i].arrival)
    lo = hi = start

    def fits(count: int, longest: int) -> bool:
        return count <= max_batch_size and count * padded_length(longest, pad_multiple) <= max_tokens

    while True:
        count, longest = hi - lo + 1, ordered[hi].length
        can_left = lo > 0 and fits(count + 1, longest)
        can_right = hi + 1 < len(ordered) and fits(count + 1, ordered[hi + 1].length)
        if not (can_left or can_right):
            break
        # Padding each choice adds: a shorter item pads itself up to `longest`; a longer
        # one pads every item already in the batch up to its own length.
        left_waste = longest - ordered[lo - 1].length if can_left else None
        right_waste = count * (ordered[hi + 1].length - longest) if can_right else None
        if right_waste is None or (left_waste is not None and left_waste <= right_waste):
            lo -= 1
        else:
            hi += 1
    return list(ordered[lo : hi + 1])
