"""Optimization profiles for compiled GPU engines: pure shape arithmetic, no GPU imports.

A TensorRT profile is a box of input shapes, (batch, seq) from `min` to `max`, tuned for
one `opt` shape. The batcher sends batches whose padded size batch x seq stays inside the
token budget, so the shapes that occur fill a hyperbola, not a box: one box from (1, 1) to
(max_batch, max_seq) would be sized, and tuned, for max_batch x max_seq tokens, many times
the budget. Splitting the sequence axis into a few buckets gives boxes that each hug the
budget (at most `ratio` x max_num_tokens), with kernels tuned for the shapes in that bucket.

    short  [1, b0]        batch up to max_batch_size   (b0 = max_num_tokens / max_batch_size)
    longer (b0, b0*r]     batch up to budget / (b0+1)
    ...    up to max_seq  batch up to budget / (lo)

The plan is recorded in the build manifest; the engine reads the profiles from the plan
file itself, picks one per batch (`choose_profile`) and splits a batch that overflows it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence


@dataclass(frozen=True)
class ShapeProfile:
    """One optimization profile over (batch, seq) for every [batch, seq] input."""

    min_batch: int
    opt_batch: int
    max_batch: int
    min_seq: int
    opt_seq: int
    max_seq: int

    def __post_init__(self) -> None:
        if not (1 <= self.min_batch <= self.opt_batch <= self.max_batch):
            raise ValueError(f"bad batch range in {self}")
        if not (1 <= self.min_seq <= self.opt_seq <= self.max_seq):
            raise ValueError(f"bad sequence range in {self}")

    def covers(self, batch: int, seq: int) -> bool:
        return self.min_batch <= batch <= self.max_batch and self.min_seq <= seq <= self.max_seq

    @property
    def box_tokens(self) -> int:
        """Tokens of the largest shape: what activation memory is sized for."""
        return self.max_batch * self.max_seq

    def shapes(self) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        """(min, opt, max) as TensorRT's `IOptimizationProfile.set_shape` takes them."""
        return (self.min_batch, self.min_seq), (self.opt_batch, self.opt_seq), (self.max_batch, self.max_seq)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ShapeProfile":
        return cls(**{k: int(data[k]) for k in cls.__dataclass_fields__})


def _round_up(value: float, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def _bucket_tops(max_seq: int, first_top: int, *, max_profiles: int, ratio: float, multiple: int) -> list[int]:
    """Upper bounds of the sequence buckets: geometric from `first_top` to `max_seq`."""
    if first_top >= max_seq or max_profiles <= 1:
        return [max_seq]
    steps = math.ceil(math.log(max_seq / first_top, ratio) - 1e-9)
    steps = max(1, min(steps, max_profiles - 1))
    growth = (max_seq / first_top) ** (1.0 / steps)
    tops = [first_top]
    for i in range(1, steps):
        tops.append(min(max_seq, _round_up(first_top * growth**i, multiple)))
    tops.append(max_seq)
    return sorted(set(t for t in tops if t <= max_seq))


def profile_limits(spec: Any) -> dict[str, int]:
    """The limits of a model spec that `plan_profiles` plans from (keyword arguments for it).

    A TensorRT build key records them: a plan built for other limits has the wrong profiles.
    """
    return {"max_seq_len": spec.max_length, "max_num_tokens": spec.entry.max_num_tokens,
            "max_batch_size": spec.entry.max_batch_size}


def plan_profiles(
    *,
    max_seq_len: int,
    max_num_tokens: int,
    max_batch_size: int,
    pad_multiple: int = 8,
    max_profiles: int = 4,
    ratio: float = 2.0,
) -> tuple[ShapeProfile, ...]:
    """Profiles that together cover every shape the batcher can send.

    Covered: batch <= max_batch_size, seq <= max_seq_len, batch x padded(seq) <= max_num_tokens.
    Each profile's box holds at most about `ratio` x max_num_tokens tokens (more only when
    `max_profiles` caps the bucket count).
    """
    if min(max_seq_len, max_num_tokens, max_batch_size, pad_multiple, max_profiles) < 1 or ratio <= 1:
        raise ValueError("profile planning needs positive limits and ratio > 1")
    budget = max(max_num_tokens, max_seq_len)  # the batcher always fits one full-length item
    # Below this length the batch is capped by max_batch_size, not by the token budget.
    first_top = max(pad_multiple, (budget // max_batch_size) // pad_multiple * pad_multiple)
    tops = _bucket_tops(
        max_seq_len, min(first_top, max_seq_len), max_profiles=max_profiles, ratio=ratio, multiple=pad_multiple
    )
    profiles = []
    low = 1
    for top in tops:
        # The shortest padded batch in this bucket sets how many items fit the budget.
        shortest = min(top, _round_up(low, pad_multiple)) if pad_multiple > 1 else low
        max_batch = max(1, min(max_batch_size, budget // shortest))
        opt_batch = max(1, min(max_batch, budget // top))
        profiles.append(ShapeProfile(1, opt_batch, max_batch, low, top, top))
        low = top + 1
    return tuple(profiles)


def choose_profile(profiles: Sequence[ShapeProfile], batch: int, seq: int) -> int | None:
    """Index of the profile for a batch shape: the covering box with the fewest tokens.

    Returns None when no profile takes the sequence length at all. When the length fits a
    profile but the batch is too large for it, that profile is still returned and the
    caller splits the batch (`split_batch`).
    """
    covering = [i for i, p in enumerate(profiles) if p.covers(batch, seq)]
    if covering:
        return min(covering, key=lambda i: profiles[i].box_tokens)
    by_seq = [i for i, p in enumerate(profiles) if p.min_seq <= seq <= p.max_seq]
    if not by_seq:
        return None
    return max(by_seq, key=lambda i: profiles[i].max_batch)


def split_batch(batch: int, max_batch: int) -> list[tuple[int, int]]:
    """[start, stop) row ranges of at most `max_batch` rows each."""
    if max_batch < 1:
        raise ValueError("max_batch must be positive")
    return [(start, min(start + max_batch, batch)) for start in range(0, batch, max_batch)]


def profiles_to_json(profiles: Sequence[ShapeProfile]) -> list[dict[str, int]]:
    return [p.to_dict() for p in profiles]


def profiles_from_json(data: Sequence[dict[str, Any]]) -> tuple[ShapeProfile, ...]:
    return tuple(ShapeProfile.from_dict(d) for d in data)
