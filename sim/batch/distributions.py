"""Distributions of uncertain inputs, written in YAML, and drawing samples from them.

Forms: ``{range: [lo, hi]}`` (uniform), ``{normal: {mean: m, sd: s}}`` and ``{lognormal: {mean: m,
sd: s}}`` (mean and sd of the quantity itself; both truncated at zero), ``{choice: [a, b, ...]}``
(equally likely). Bounds take units (``10k``, ``2GiB``): the caller passes the field's parser.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ..inputs import shown

HELP = "use {range: [lo, hi]}, {normal: {mean: m, sd: s}}, {lognormal: {mean: m, sd: s}} or {choice: [a, b, ...]}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MeanSd(_Model):
    mean: Any
    sd: Any


class Range(_Model):
    """Uniform between two bounds."""

    range: tuple[Any, Any]


class Normal(_Model):
    """Normal with the given mean and standard deviation, redrawn below zero."""

    normal: MeanSd


class LogNormal(_Model):
    """Log-normal whose own mean and standard deviation are given."""

    lognormal: MeanSd


class Choice(_Model):
    """One of the listed values, each equally likely (values are used as written)."""

    choice: list[Any] = Field(min_length=1)


Distribution = Range | Normal | LogNormal | Choice
Parser = Callable[[Any], float]


def _spread(raw: Any, parse: Parser) -> float:
    """A standard deviation in the field's units; 0 needs none (and a field may refuse 0 itself)."""
    return 0.0 if raw in (0, "0") else parse(raw)


def check(dist: Distribution, parse: Parser) -> None:
    """Parse the distribution's numbers once, raising ValueError with the rule broken."""
    if isinstance(dist, Range):
        lo, hi = (_finite(parse(v), v) for v in dist.range)
        if lo > hi:
            raise ValueError(f"range: the lower bound {shown(dist.range[0])} is above the upper {shown(dist.range[1])}")
    elif isinstance(dist, (Normal, LogNormal)):
        spec = dist.normal if isinstance(dist, Normal) else dist.lognormal
        mean, sd = _finite(parse(spec.mean), spec.mean), _finite(_spread(spec.sd, parse), spec.sd)
        if sd < 0 or (isinstance(dist, LogNormal) and mean <= 0):
            raise ValueError("sd must be 0 or more, and a lognormal's mean above 0")
        if isinstance(dist, LogNormal) and not math.isfinite((sd / mean) ** 2 if sd / mean < 1e150 else math.inf):
            raise ValueError("lognormal: sd is too many times the mean")


def _finite(value: float, raw: Any) -> float:
    """``value`` if it is a finite number; ValueError naming ``raw`` otherwise (.nan, .inf, 1e400)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number):
        raise ValueError(f"{shown(raw)} is not a finite number")
    return number


def draw(dist: Distribution, parse: Parser, rng: np.random.Generator, n: int) -> list[Any]:
    """``n`` samples: numbers for range/normal/lognormal, the listed values for choice."""
    if isinstance(dist, Choice):
        return [dist.choice[i] for i in rng.integers(0, len(dist.choice), n)]
    if isinstance(dist, Range):
        lo, hi = (parse(v) for v in dist.range)
        return rng.uniform(lo, hi, n).tolist()
    if isinstance(dist, Normal):
        mean, sd = parse(dist.normal.mean), _spread(dist.normal.sd, parse)
        values = rng.normal(mean, sd, n)
        for _ in range(20):  # truncate at zero by redrawing (quantities here are never negative)
            low = values < 0
            if not low.any():
                break
            values[low] = rng.normal(mean, sd, int(low.sum()))
        return np.maximum(values, 0.0).tolist()
    mean, sd = parse(dist.lognormal.mean), _spread(dist.lognormal.sd, parse)
    sigma2 = math.log1p((sd / mean) ** 2)
    return rng.lognormal(math.log(mean) - sigma2 / 2, math.sqrt(sigma2), n).tolist()


def parse(value: Any) -> Distribution:
    """A distribution from its YAML form; ValueError saying the allowed forms otherwise."""
    try:
        return _ADAPTER.validate_python(value)
    except ValidationError:
        raise ValueError(f"{shown(value)} is not a distribution; {HELP}") from None


_ADAPTER = TypeAdapter(Distribution)
