"""The planner's checks of a ``plan:`` block that need the scenario, and reading a plan file.

The block's model (:mod:`sim.planner.model`) is validated with the scenario; here the uncertain inputs
are checked against the scenario they vary. Problems become a :class:`ScenarioError` naming the file,
line and ``plan.`` field path, like the rest of the scenario.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..batch import distributions
from ..batch.fieldpaths import FieldPathError, check_path, number_parser
from ..inputs import Node, load_yaml, read_text, shown
from ..scenario import Scenario, ScenarioError, _line, load_scenario
from .model import Objectives, PlanSpec, Uncertainty

__all__ = ["Objectives", "PlanSpec", "Uncertainty", "LOAD_FACTOR", "CHOSEN_BY_PLANNER", "load_plan", "check_plan"]

LOAD_FACTOR = "load_factor"
"""Pseudo-input of the uncertainty block: multiplies every write and read rate (constant or daily)."""
CHOSEN_BY_PLANNER = {
    "node.type",
    "node.memory",
    "node.reserved_memory_percent",
    "node.reserved_memory",
    "backup.source",
    "backup.start",
}


def load_plan(path: str | Path) -> tuple[Scenario, PlanSpec, dict]:
    """The scenario, its checked plan block (defaults without one), and the raw mapping (without ``plan``)
    to derive variants from."""
    path = Path(path)
    scenario = load_scenario(path)
    data, tree = load_yaml(read_text(path), str(path))
    data.pop("plan", None)
    return scenario, check_plan(scenario.plan or PlanSpec(), data, str(path), tree), data


def check_plan(spec: PlanSpec, base: dict, source: str, tree: Node | None = None) -> PlanSpec:
    """Check the uncertain inputs of a validated plan against the scenario mapping ``base`` they vary."""
    if spec.uncertainty is not None:
        for name, value in spec.uncertainty.inputs.items():
            try:
                _check_input(name, value, base)
            except ValueError as exc:
                loc = ("plan", "uncertainty", "inputs", name)
                raise ScenarioError(source, [(".".join(loc), _line(tree, loc), str(exc))]) from None
    return spec


def _check_input(name: str, value: Any, base: dict) -> None:
    dist = distributions.parse(value)
    if name == LOAD_FACTOR:
        if isinstance(dist, distributions.Choice):
            for choice in dist.choice:
                _load_factor(choice)
        else:
            distributions.check(dist, _load_factor)
        return
    try:
        parts = check_path(name)
    except FieldPathError as exc:
        raise ValueError(f"{exc}; or use {LOAD_FACTOR} to scale every rate") from None
    if name in CHOSEN_BY_PLANNER:
        raise ValueError(f"the planner chooses {name}; it cannot be an uncertain input")
    profile = (base.get("workload") or {}).get("daily_profile")
    if profile is not None and name in ("workload.writes_per_sec", "workload.reads_per_sec"):
        raise ValueError(
            f"{name} is ignored because workload.daily_profile sets the rates; "
            f"use {LOAD_FACTOR}: {{range: [0.8, 1.5]}} to scale the day"
        )
    if not isinstance(dist, distributions.Choice):
        distributions.check(dist, number_parser(base, parts))


def _load_factor(value: Any) -> float:
    """A load factor: a finite number of 0 or more."""
    try:
        factor = float(value)
    except (TypeError, ValueError, OverflowError):
        factor = math.nan
    if isinstance(value, bool) or not (math.isfinite(factor) and factor >= 0):
        raise ValueError(f"{LOAD_FACTOR} takes plain numbers of 0 or more, such as 1.5; got {shown(value)}")
    return factor
