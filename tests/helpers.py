"""Small scenario builder shared by the engine tests, and the repository root for tests in subfolders."""

from pathlib import Path

from sim.physics.layout import Allocation, KeyLayout
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


PAGE = 4096
"""The small page the copy-on-write tests lay slots on."""


def one_class(size: int) -> KeyLayout:
    """A key of one rewritten allocation of ``size`` bytes: the simplest layout the page formulas apply to."""
    return KeyLayout((Allocation("slot", size, True),), 0.0)
