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


def stall_wait_seconds(stall_s: float, backlog: float, service_s: float) -> float:
    """Longest wait of a request arriving as the server freezes for ``stall_s`` behind ``backlog``."""
    return stall_s + backlog * service_s


def backlog_clear_seconds(stall_s: float, utilization: float) -> float:
    """Time from the start of a stall until the backlog it built is served (inf when saturated)."""
    if utilization >= 1.0:
        return math.inf
    return stall_s / (1.0 - utilization)


def mm1_mean_sojourn(service_s: float, utilization: float) -> float:
    """Mean M/M/1 time in system, ``s / (1 - rho)``."""
    return math.inf if utilization >= 1.0 else service_s / (1.0 - utilization)


def mm1_sojourn_quantile(service_s: float, utilization: float, q: float) -> float:
    """q-quantile of the M/M/1 time in system: ``-ln(1-q) x s / (1 - rho)``."""
    if utilization >= 1.0:
        return math.inf
    return -math.log1p(-q) * service_s / (1.0 - utilization)
