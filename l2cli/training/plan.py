"""The plan of a sweep: its points, one per (λ, seed), and the chunks they train in.

A point is an addressable unit of work: its numbers depend only on the
experiment, its λ and its seed, never on which other points share its chunk.
Pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    """One unit of work: the model with this λ and seed. ``index`` is its row in the outputs."""

    index: int
    lam: float
    seed: int


def points(lambdas: list[float], seeds: list[int]) -> list[Point]:
    """The points of a sweep, λ-major: (λ₀, s₀), (λ₀, s₁), …, (λ₁, s₀), …"""
    pairs = [(lam, seed) for lam in lambdas for seed in seeds]
    return [Point(i, lam, seed) for i, (lam, seed) in enumerate(pairs)]


def chunks(pts: list[Point], size: int) -> list[list[Point]]:
    """Consecutive chunks of at most ``size`` points."""
    return [pts[i:i + size] for i in range(0, len(pts), size)]
