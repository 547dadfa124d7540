"""Requests queued at Redis's single main thread, as a fluid queue plus M/M/1 jitter.

Arrivals are a fluid at rate ``lambda``; the server drains at ``mu = 1/service_time`` except while
it is frozen (the fork stall). A request's wait is the time until the work ahead of it is done.
"""

from __future__ import annotations

import math


def drain(backlog: float, arrivals_per_sec: float, capacity_per_sec: float, dt: float) -> tuple[float, float]:
    """Advance a fluid queue by ``dt``: returns (new backlog, requests served) in requests."""
    offered = backlog + arrivals_per_sec * dt
    served = min(offered, capacity_per_sec * dt)
    return offered - served, served


def mm1_mean_sojourn(service_s: float, utilization: float) -> float:
    """Mean M/M/1 time in system, ``s / (1 - rho)``."""
    return math.inf if utilization >= 1.0 else service_s / (1.0 - utilization)


def mm1_sojourn_quantile(service_s: float, utilization: float, q: float) -> float:
    """q-quantile of the M/M/1 time in system: ``-ln(1-q) x s / (1 - rho)``."""
    if utilization >= 1.0:
        return math.inf
    return -math.log1p(-q) * service_s / (1.0 - utilization)


def mixture_quantiles(weights, shifts, rates, qs) -> list[float]:
    """Quantiles of a mixture whose component i is ``shifts[i] + Exp(rates[i])`` (seconds).

    The engine describes each moment of a run by the fluid wait a request meets (the shift) and
    the M/M/1 jitter around it (rate ``(1 - rho) / s``); weights are the requests arriving then.
    """
    import numpy as np

    w = np.asarray(weights, float)
    shift = np.asarray(shifts, float)
    rate = np.asarray(rates, float)
    keep = w > 0
    w, shift, rate = w[keep] / w[keep].sum(), shift[keep], rate[keep]

    q = np.asarray(qs, float)[:, None]
    # the mixture's q-quantile lies between the smallest and the largest of its components' ones
    own = shift - np.log1p(-q) / rate
    lo, hi = np.maximum(own.min(1), 0.0), own.max(1)
    x = (lo + hi) / 2
    q = q[:, 0]
    for _ in range(100):  # Newton steps kept inside a shrinking bracket (bisection when they leave it)
        ahead = x[:, None] - shift
        survive = np.exp(-rate * np.maximum(ahead, 0.0))
        cdf = (w * (1.0 - survive)).sum(1)  # plain sums: no BLAS threads
        pdf = (w * rate * np.where(ahead > 0, survive, 0.0)).sum(1)
        below = cdf < q
        lo, hi = np.where(below, x, lo), np.where(below, hi, x)
        step = np.divide(q - cdf, pdf, out=np.zeros_like(x), where=pdf > 0)
        newton = x + step
        inside = (pdf > 0) & (newton > lo) & (newton < hi)
        nxt = np.where(inside, newton, (lo + hi) / 2)
        if np.all(np.abs(nxt - x) <= 1e-12 * np.abs(nxt)) or np.all(hi - lo <= 1e-12 * hi):
            x = nxt
            break
        x = nxt
    return x.tolist()
