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

    q = np.asarray(qs, float)
    lo = np.zeros(len(q))
    hi = np.full(len(q), float(shift.max() + 50.0 / rate.min()))
    for _ in range(60):  # bisection of every quantile at once; plain sums, no BLAS threads
        if np.all(hi - lo <= 1e-9 * hi):
            break
        mid = (lo + hi) / 2
        x = mid[:, None] - shift
        cdf = (w * np.where(x > 0, -np.expm1(-rate * np.maximum(x, 0.0)), 0.0)).sum(1)
        below = cdf < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return hi.tolist()
