"""Small scenario builder shared by the engine tests, and the repository root for tests in subfolders."""

from pathlib import Path

from sim.scenario import merge, validate_scenario

REPO_ROOT = Path(__file__).resolve().parents[1]

BASE = {
    "name": "t",
    "node": {"memory": "2GiB", "swap": "0B", "reserved_memory_percent": 25},
    "platform": "lab",
    "dataset": {"keys": "1M", "value_size": "1KB"},
    "workload": {"writes_per_sec": "20k", "reads_per_sec": "10k"},
    "backup": {"method": "fork"},
    "simulation": {"before": "2s", "after": "2s"},
}


def scenario(**overrides):
    """The BASE scenario with nested overrides merged in."""
    return validate_scenario(merge(BASE, overrides))
