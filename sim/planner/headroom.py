"""How far the chosen configuration is from failing: more writes, more data, or less skew.

Each is a bisection on a multiplier of the nominal input (writes at the chosen window, dataset keys,
and the skew of the key distribution, which protects a backup: spread-out writes touch more pages).
It assumes one boundary: past the first failing multiplier nothing passes again. The three searches
step together so each round's simulations run in parallel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass

from ..batch.fieldpaths import with_value
from .objectives import Violation
from .variants import Config, Window, variant

MAX_GROWTH = 64.0
BISECTIONS = 6


@dataclass(frozen=True)
class Headroom:
    """The margin along one input: the largest passing multiplier and what breaks beyond it."""

    dimension: str  # writes, data or skew
    multiplier: float | None  # None: no limit found within the search
    sentence: str
    limit: str | None = None


Search = Generator[float, bool, tuple[float, float | None]]


def _grow() -> Search:
    """Largest passing multiplier >= 1: double until something fails, then bisect geometrically."""
    lo, hi, m = 1.0, None, 2.0
    while hi is None:
        if (yield m):
            lo = m
            if m >= MAX_GROWTH:
                return lo, None
            m *= 2
        else:
            hi = m
    for _ in range(BISECTIONS):
        mid = math.sqrt(lo * hi)
        if (yield mid):
            lo = mid
        else:
            hi = mid
    return lo, hi


def _weaken() -> Search:
    """Smallest passing skew share in [0, 1] (1: as written, 0: uniform)."""
    if (yield 0.0):
        return 0.0, None
    lo, hi = 0.0, 1.0  # lo fails, hi passes
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2
        if (yield mid):
            hi = mid
        else:
            lo = mid
    return hi, lo


def count(n: float) -> str:
    """``46000`` → ``46k``, ``7300000`` → ``7.3M``."""
    for suffix, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{suffix}"
    return f"{n:.3g}"


def _skew_at(distribution, share: float):
    """The key distribution with its skew scaled by ``share`` (0 gives uniform)."""
    if "zipf" in distribution:
        return {"zipf": distribution["zipf"] * share} if share > 0 else "uniform"
    hot = distribution["hot_set"]
    return {"hot_set": {"keys": hot["keys"], "writes": hot["keys"] + share * (hot["writes"] - hot["keys"])}}


def headroom(
    base: dict,
    scenario,
    config: Config,
    window: Window,
    check: Callable[[list[dict]], list[tuple[dict, list[Violation]]]],
) -> list[Headroom]:
    """Margins of ``config`` in ``window`` along writes, data and skew."""
    data_field = "keys" if scenario.dataset.keys is not None else "used_memory"  # with_value scales its partner
    nominal_data = getattr(scenario.dataset, data_field)
    distribution = scenario.workload.key_distribution.model_dump()
    skewed = "zipf" in distribution or "hot_set" in distribution

    makers: dict[str, Callable[[float], dict]] = {
        "writes": lambda m: variant(base, config, Window(window.start_s, window.writes * m, window.reads)),
        "data": lambda m: variant(
            with_value(base, ("dataset", data_field), _data_value(data_field, nominal_data * m)), config, window
        ),
    }
    searches: dict[str, Search] = {"data": _grow()}
    if window.writes > 0:
        searches["writes"] = _grow()
    if skewed:
        makers["skew"] = lambda share: variant(
            with_value(base, ("workload", "key_distribution"), _skew_at(distribution, share)), config, window
        )
        searches["skew"] = _weaken()
    bounds, limits = _drive(searches, makers, check)

    out = [
        _writes_sentence(window, *bounds["writes"], limits.get("writes"))
        if "writes" in bounds
        else Headroom("writes", None, "the window has no writes to grow"),
        _data_sentence(data_field, nominal_data, *bounds["data"], limits.get("data")),
    ]
    if skewed:
        out.append(_skew_sentence(distribution, *bounds["skew"], limits.get("skew")))
    else:
        out.append(
            Headroom("skew", None, "writes are already uniform, the worst case for copy-on-write: no skew left to lose")
        )
    return out


def _data_value(field: str, value: float):
    return round(value) if field == "keys" else f"{round(value)}B"


def _drive(
    searches: dict[str, Search],
    makers: dict[str, Callable[[float], dict]],
    check: Callable[[list[dict]], list[tuple[dict, list[Violation]]]],
) -> tuple[dict[str, tuple[float, float | None]], dict[str, str]]:
    """Step every search together: one batch of simulations per round; (bounds, first limit hit) per search."""
    pending = {name: next(gen) for name, gen in searches.items()}
    bounds: dict[str, tuple[float, float | None]] = {}
    limits: dict[str, str] = {}
    while pending:
        names = list(pending)
        results = check([makers[n](pending[n]) for n in names])
        for name, (_, found) in zip(names, results, strict=True):
            found = [v for v in found if v.objective != "min_data_growth"]  # the margin measures the growth itself
            if found:
                limits[name] = found[0].limit
            try:
                pending[name] = searches[name].send(not found)
            except StopIteration as stop:
                bounds[name] = stop.value
                del pending[name]
    return bounds, limits


def _writes_sentence(window: Window, lo: float, hi: float | None, limit: str | None) -> Headroom:
    if hi is None:
        return Headroom(
            "writes",
            None,
            f"writes can grow beyond ×{lo:g} (to {count(window.writes * lo)}/s) without missing an objective",
        )
    return Headroom("writes", lo, f"writes can grow ×{lo:.3g} (to {count(window.writes * lo)}/s) before {limit}", limit)


def _data_sentence(field: str, nominal: float, lo: float, hi: float | None, limit: str | None) -> Headroom:
    unit = " keys" if field == "keys" else "B of used_memory"
    if hi is None:
        return Headroom(
            "data",
            None,
            f"the data can grow beyond ×{lo:g} (to {count(nominal * lo)}{unit}) without missing an objective",
        )
    return Headroom("data", lo, f"the data can grow ×{lo:.3g} (to {count(nominal * lo)}{unit}) before {limit}", limit)


def _skew_sentence(distribution: dict, share: float, failing: float | None, limit: str | None) -> Headroom:
    if failing is None:
        return Headroom(
            "skew", 0.0, "even uniformly spread writes (the worst case for copy-on-write) meet the objectives"
        )
    if "zipf" in distribution:
        text = f"zipf {distribution['zipf']:g} down to zipf {distribution['zipf'] * share:.2g}"
    else:
        hot = distribution["hot_set"]
        writes = hot["keys"] + share * (hot["writes"] - hot["keys"])
        text = f"{hot['writes']:.0%} of writes on the hot set down to {writes:.0%}"
    return Headroom("skew", share, f"the skew can weaken from {text} (×{share:.3g}) before {limit}", limit)
