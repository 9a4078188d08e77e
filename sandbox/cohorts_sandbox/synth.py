"""Deterministic pseudo-random numbers: the same inputs give the same value in every process."""

from __future__ import annotations

import hashlib
from collections.abc import Callable


def unit(*parts: object) -> float:
    """A number in [0, 1) determined by `parts` alone (not Python's per-process `hash`)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def unit_of(*parts: object) -> Callable[[object], float]:
    """`unit(*parts, last)` for each `last`, with `parts` hashed once: the same numbers, at half the cost (a
    Braze series point draws a dozen numbers from the same parts, and 10,000 campaigns a million points)."""
    if not parts:
        raise ValueError("unit_of needs at least one part")
    head = hashlib.blake2b(repr((*parts, None))[: -len("None)")].encode(), digest_size=8)

    def draw(last: object) -> float:
        hashed = head.copy()
        hashed.update(f"{last!r})".encode())
        return int.from_bytes(hashed.digest(), "big") / 2**64

    return draw


def fmt(value: float | int | None, digits: int = 4) -> str:
    """A number as vendors write it in files: integers bare, others rounded; None as an empty string."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return repr(round(value, digits))


def restated(dimensions: dict[str, str], restatement: int, *seed: object) -> dict[str, str] | None:
    """A cohort row's dimensions as the vendor reports them after `restatement` (0: as first reported).

    Vendors revise the past in ways that make keys disappear: about one row in six is no longer reported (its
    installs rejected as fraud, re-attributed elsewhere: None), and one in six moves to a renamed value of its
    first dimension (a media source or campaign renamed: the same values under a new key). Each restatement
    draws anew, so keys come and go between two runs."""
    if restatement <= 0:
        return dimensions
    draw = unit(*seed, sorted(dimensions.items()), "restatement", restatement)
    if draw < 1 / 6:
        return None
    if draw < 2 / 6 and dimensions:
        name = min(dimensions)
        return {**dimensions, name: f"{dimensions[name]} (restated {restatement})"}
    return dimensions


def revised(value: float, revision: int, step: float = 1.0) -> float:
    """`value` as of `revision` (cohorts maturing between runs): 10% more and at least `step` more per revision,
    so every value changes, however small (an integer count of 0 or 5 too), and no rounding hides the change.
    `step` is the unit the value is written in (1 for counts, 0.01 for money, 0.001 for rates)."""
    return value * (1 + 0.1 * revision) + step * revision
