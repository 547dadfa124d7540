"""Which keys the writes hit: popularity classes, distinct keys written, and sampling.

A key distribution is reduced to popularity classes (``counts[j]`` keys, each written
with probability ``probs[j]`` per write). With Poisson writes, after ``n`` writes a key of
probability p has been written at least once with probability ``1 - exp(-p n)``; the mean
of that over all keys is the distinct-key fraction that drives copy-on-write.
Zipf classes are exact for the first ranks and log-spaced buckets after, which keeps a
26-million-key Zipf evaluation to a few thousand terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..keydist import HotSet, KeyDistribution, Uniform, Zipf

EXACT_ZIPF_RANKS = 500
ZIPF_BUCKETS = 1000


@dataclass(frozen=True)
class Popularity:
    """Keys grouped into classes of equal write probability."""

    counts: np.ndarray  # keys in each class
    probs: np.ndarray  # per-key probability that one write hits a key of the class

    _keys: int = field(init=False, repr=False, compare=False)
    _shares: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = int(self.counts.sum())
        object.__setattr__(self, "_keys", keys)
        object.__setattr__(self, "_shares", self.counts / keys)  # share of all keys in each class

    @property
    def keys(self) -> int:
        return self._keys

    def distinct_fraction(self, writes: float | np.ndarray) -> np.ndarray | float:
        """Expected fraction of keys written at least once after ``writes`` writes."""
        n = np.asarray(writes, dtype=float)
        hit = -np.expm1(-np.multiply.outer(n, self.probs))
        result = np.minimum((hit * self._shares).sum(-1), 1.0)  # a plain sum (no BLAS threads) may pass 1 by an ulp
        return float(result) if np.ndim(result) == 0 else result


def popularity(distribution: KeyDistribution, keys: int) -> Popularity:
    """Popularity classes for ``keys`` keys under ``distribution``."""
    if isinstance(distribution, Uniform) or keys == 1:
        return Popularity(np.array([keys], float), np.array([1.0 / keys]))
    if isinstance(distribution, HotSet):
        hot_keys = min(keys - 1, max(1, round(keys * distribution.hot_set.keys)))
        cold_keys = keys - hot_keys
        share = distribution.hot_set.writes
        return Popularity(
            np.array([hot_keys, cold_keys], float),
            np.array([share / hot_keys, (1.0 - share) / cold_keys]),
        )
    if isinstance(distribution, Zipf):
        return _zipf(distribution.zipf, keys)
    raise TypeError(f"unknown key distribution {distribution!r}")


def _zipf(s: float, keys: int) -> Popularity:
    exact = min(keys, EXACT_ZIPF_RANKS)
    counts = [np.ones(exact)]
    weights = [np.arange(1, exact + 1, dtype=float) ** -s]
    if keys > exact:
        edges = np.unique(np.geomspace(exact + 1, keys + 1, ZIPF_BUCKETS + 1).astype(np.int64))
        lo, hi = edges[:-1], edges[1:]  # ranks lo .. hi-1
        counts.append((hi - lo).astype(float))
        weights.append(_mean_power(lo, hi, s))
    counts_all = np.concatenate(counts)
    weights_all = np.concatenate(weights)
    total = float(counts_all @ weights_all)
    return Popularity(counts_all, weights_all / total)


def _mean_power(lo: np.ndarray, hi: np.ndarray, s: float) -> np.ndarray:
    """Mean of r^-s over integer ranks lo..hi-1, by the integral with a midpoint correction."""
    a, b = lo - 0.5, hi - 0.5
    if abs(s - 1.0) < 1e-9:
        total = np.log(b / a)
    else:
        total = (b ** (1 - s) - a ** (1 - s)) / (1 - s)
    return total / (hi - lo)


def sample_keys(distribution: KeyDistribution, keys: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``size`` key indices in ``[0, keys)``; popular ranks are scattered over the key ids.

    Rank r maps to key id ``(r * STRIDE) % keys`` with a stride coprime to ``keys``, so hot keys
    are spread over memory as keys written at different times are in a real cache.
    """
    return scatter(sample_ranks(distribution, keys, size, rng), keys)


def sample_ranks(distribution: KeyDistribution, keys: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``size`` popularity ranks in ``[0, keys)`` (rank 0 the hottest); clustered keys use them as key ids."""
    if isinstance(distribution, Uniform):
        ranks = rng.integers(0, keys, size)
    elif isinstance(distribution, HotSet):
        hot = min(keys - 1, max(1, round(keys * distribution.hot_set.keys)))
        is_hot = rng.random(size) < distribution.hot_set.writes
        ranks = np.where(is_hot, rng.integers(0, hot, size), rng.integers(hot, keys, size))
    elif isinstance(distribution, Zipf):
        ranks = _sample_zipf_ranks(distribution.zipf, keys, size, rng)
    else:
        raise TypeError(f"unknown key distribution {distribution!r}")
    return ranks


def scatter(ranks: np.ndarray, keys: int) -> np.ndarray:
    """Map popularity ranks to key ids with a fixed coprime stride (a bijection on [0, keys))."""
    stride = _coprime_stride(keys)
    return (ranks.astype(np.int64) * stride) % keys


def _coprime_stride(keys: int) -> int:
    if keys <= 2:
        return 1
    stride = int(keys * 0.6180339887) | 1
    while np.gcd(stride, keys) != 1:
        stride += 2
    return stride % keys


_ZIPF_CDF_CACHE: dict[tuple[float, int], np.ndarray] = {}


def _sample_zipf_ranks(s: float, keys: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Exact bounded-Zipf ranks by inverse CDF (cached per (s, keys))."""
    cdf = _ZIPF_CDF_CACHE.get((s, keys))
    if cdf is None:
        weights = np.arange(1, keys + 1, dtype=float) ** -s
        cdf = np.cumsum(weights)
        cdf /= cdf[-1]
        if len(_ZIPF_CDF_CACHE) > 8:
            _ZIPF_CDF_CACHE.clear()
        _ZIPF_CDF_CACHE[(s, keys)] = cdf
    return np.searchsorted(cdf, rng.random(size), side="right").clip(0, keys - 1)
