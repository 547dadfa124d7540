"""Probability that a candidate misses an objective when the uncertain inputs vary (Monte-Carlo).

Every candidate sees the same draws (common random numbers), so their probabilities compare fairly.
Runs go in chunks; a candidate stops early once its failures exceed what ``max_failure_probability``
allows over all runs, since it can no longer pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..batch import distributions
from ..batch.fieldpaths import check_path, number_encoder, number_parser, with_value
from .objectives import Violation
from .spec import LOAD_FACTOR, Uncertainty


@dataclass(frozen=True)
class Draw:
    """One run's inputs: scenario fields to override, and the factor on every rate."""

    values: tuple[tuple[tuple[str, ...], Any], ...]
    load_factor: float = 1.0

    def apply(self, base: dict) -> dict:
        """``base`` with this draw's field values written in."""
        for parts, value in self.values:
            base = with_value(base, parts, value)
        return base


@dataclass
class MonteCarlo:
    """Outcome of the runs of one candidate."""

    runs: int
    failures: int
    planned_runs: int
    reasons: Counter = field(default_factory=Counter)

    @property
    def probability(self) -> float:
        return self.failures / self.runs if self.runs else 0.0

    @property
    def stopped_early(self) -> bool:
        return self.runs < self.planned_runs

    def text(self) -> str:
        """E.g. ``3.0 % of 100 runs`` or ``at least 4 of 100 runs (stopped after 25)``."""
        if self.stopped_early:
            return f"at least {self.failures} of {self.planned_runs} runs (stopped after {self.runs})"
        return f"{100 * self.probability:.1f} % of {self.runs} runs"


def draws(uncertainty: Uncertainty, base: dict) -> list[Draw]:
    """The runs' inputs, reproducible from the seed; numbers written the way each field reads them."""
    rng = np.random.default_rng(uncertainty.seed)
    n = uncertainty.runs
    factors = [1.0] * n
    columns = []
    for name in sorted(uncertainty.inputs):
        dist = distributions.parse(uncertainty.inputs[name])
        if name == LOAD_FACTOR:
            factors = distributions.draw(dist, float, rng, n)
            continue
        parts = check_path(name)
        if isinstance(dist, distributions.Choice):
            columns.append([(parts, v) for v in distributions.draw(dist, float, rng, n)])
            continue
        values = distributions.draw(dist, number_parser(base, parts), rng, n)
        encode = number_encoder(base, parts, values[0])
        columns.append([(parts, encode(v)) for v in values])
    rows = list(zip(*columns, strict=False)) if columns else [()] * n
    return [Draw(tuple(row), factor) for row, factor in zip(rows, factors, strict=False)]


def estimate(
    evaluate: Callable[[list[Draw]], list[list[Violation]]], runs: list[Draw], max_probability: float, chunk: int
) -> MonteCarlo:
    """Evaluate ``runs`` chunk by chunk; stop once failures exceed ``max_probability`` of all runs."""
    allowed = max_probability * len(runs)
    result = MonteCarlo(runs=0, failures=0, planned_runs=len(runs))
    for start in range(0, len(runs), max(1, chunk)):
        for found in evaluate(runs[start : start + chunk]):
            result.runs += 1
            if found:
                result.failures += 1
                result.reasons.update(v.objective for v in found)
        if result.failures > allowed:
            break
    return result
