"""ElastiCache's managed-backup rules that a simulated backup can break (warnings on the result).

Hard limits are validated with the scenario (20 manual backups per 24 h, cluster-level backups in
cluster mode, retention of at most 35 days); this module adds what depends on the simulated run.
"""

from __future__ import annotations

from ..units import format_duration

BACKUP_WINDOW_S = 3600
"""'The minimum length for the backup window is 60 minutes' (docs/elasticache.md §3.4, BKAUTO)."""


def final_backup_source(kind: str, source: str) -> tuple[str, list[str]]:
    """A final backup (at delete) always comes from the primary (docs/elasticache.md §3.3)."""
    if kind == "final" and source == "replica":
        return "primary", [
            "a final backup is always taken from the primary (ElastiCache), so source replica is ignored"
        ]
    return source, []


def run_warnings(kind: str, backup_duration_s: float | None) -> list[str]:
    """Warnings about the managed service that follow from the simulated backup."""
    if kind == "automatic" and backup_duration_s is not None and backup_duration_s > BACKUP_WINDOW_S:
        return [f"the backup takes {format_duration(backup_duration_s)}, longer than a 60-minute backup window"]
    return []


def operations_blocked_s(backup_duration_s: float | None) -> float | None:
    """'During the backup process, you can't run any other API or CLI operations on the cluster' (BK23)."""
    return backup_duration_s
