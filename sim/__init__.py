"""rbsim: a simulator and capacity planner for Redis/ElastiCache backups.

The public API, for notebooks and scripts::

    import sim

    scenario = sim.load_scenario("scenarios/orders-cache.yaml")
    result = sim.simulate(scenario)          # the full pipeline of `rbsim run`
    print(result.summary.outcome, result.summary.peak_memory_bytes)  # or result["outcome"]

Names load on first use (PEP 562), so ``import sim`` (and ``rbsim --help``) stays fast:
numpy, pandas and pydantic load when a scenario is first read or simulated.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = [
    "CgroupError",
    "FillError",
    "HarnessError",
    "InputError",
    "PlanResult",
    "PlatformError",
    "Profile",
    "ProfileError",
    "RbsimError",
    "RedisServerError",
    "Result",
    "Runner",
    "Scenario",
    "ScenarioError",
    "SwapError",
    "UnknownNodeTypeError",
    "load_scenario",
    "plan",
    "plot_memory",
    "profile",
    "simulate",
    "sweep",
]

_WHERE = {
    "load_scenario": ("sim.scenario", "load_scenario"),
    "Scenario": ("sim.scenario", "Scenario"),
    "simulate": ("sim.run", "run"),
    "Result": ("sim.result", "Result"),
    "plot_memory": ("sim.plot", "plot_memory"),
    "sweep": ("sim.batch.sweep", "sweep"),
    "Runner": ("sim.batch.runner", "Runner"),
    "plan": ("sim.planner", "plan"),
    "PlanResult": ("sim.planner", "PlanResult"),
    "profile": ("sim.profiling.take", "profile"),
    "Profile": ("sim.profiling.take", "Profile"),
    "RbsimError": ("sim.errors", "RbsimError"),
    "InputError": ("sim.inputs", "InputError"),
    "ScenarioError": ("sim.scenario", "ScenarioError"),
    "PlatformError": ("sim.platform", "PlatformError"),
    "UnknownNodeTypeError": ("sim.elasticache.catalog", "UnknownNodeTypeError"),
    "ProfileError": ("sim.profiling", "ProfileError"),
    "HarnessError": ("sim.harness.run", "HarnessError"),
    "CgroupError": ("sim.harness.cgroup", "CgroupError"),
    "SwapError": ("sim.harness.swap", "SwapError"),
    "FillError": ("sim.harness.fill", "FillError"),
    "RedisServerError": ("sim.harness.server", "RedisServerError"),
}

if TYPE_CHECKING:
    from .batch.runner import Runner
    from .batch.sweep import sweep
    from .elasticache.catalog import UnknownNodeTypeError
    from .errors import RbsimError
    from .harness.cgroup import CgroupError
    from .harness.fill import FillError
    from .harness.run import HarnessError
    from .harness.server import RedisServerError
    from .harness.swap import SwapError
    from .inputs import InputError
    from .planner import PlanResult, plan
    from .platform import PlatformError
    from .plot import plot_memory
    from .profiling import ProfileError
    from .profiling.take import Profile, profile
    from .result import Result
    from .run import run as simulate
    from .scenario import Scenario, ScenarioError, load_scenario


def __getattr__(name: str) -> Any:
    """Import a public name on first use and keep it, so later look-ups are plain attribute reads."""
    try:
        module, attribute = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module 'sim' has no attribute {name!r}") from None
    value = getattr(import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
