"""The public API of ``sim``: the names pinned, each resolving, loaded lazily; one error hierarchy."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import sim
from sim.errors import RbsimError

SIM = Path(sim.__file__).resolve().parent
PUBLIC = {
    "load_scenario",
    "Scenario",
    "simulate",
    "Result",
    "plot_memory",
    "sweep",
    "Runner",
    "plan",
    "PlanResult",
    "profile",
    "Profile",
    "RbsimError",
    "InputError",
    "ScenarioError",
    "PlatformError",
    "UnknownNodeTypeError",
    "ProfileError",
    "HarnessError",
    "CgroupError",
    "SwapError",
    "FillError",
    "RedisServerError",
}


def test_all_is_pinned_and_every_name_resolves():
    assert set(sim.__all__) == PUBLIC and len(sim.__all__) == len(PUBLIC)
    for name in sim.__all__:
        value = getattr(sim, name)
        assert getattr(value, "__name__", None) in (name, "run"), name  # simulate is sim.run.run
    assert set(dir(sim)) >= PUBLIC
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sim.nope  # noqa: B018 - the attribute access is what must raise


def test_simulate_is_the_full_pipeline_of_rbsim_run():
    import sim.run

    assert sim.simulate is sim.run.run


def test_rbsim_help_loads_no_heavy_library():
    """`rbsim --help` imports sim and sim.cli and builds every command's parser: no numpy, pandas or pydantic."""
    code = (
        "import sys, sim, sim.cli; sim.__all__; sim.cli._parser(); "
        "print(','.join(m for m in ('numpy', 'pandas', 'pydantic', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def _error_classes():
    """Every ``class ...Error(...)`` defined in the package's source, as (module, class name)."""
    for path in sorted(SIM.rglob("*.py")):
        module = ".".join(path.relative_to(SIM.parent).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error"):
                yield module, node.name


def test_every_error_class_of_rbsim_derives_from_rbsim_error():
    import importlib

    found = list(_error_classes())
    assert len(found) >= 18
    for module, name in found:
        cls = getattr(importlib.import_module(module), name)
        assert issubclass(cls, RbsimError), f"{module}.{name}"


def test_errors_keep_the_builtin_bases_code_catches_them_by():
    assert issubclass(sim.InputError, ValueError) and issubclass(sim.UnknownNodeTypeError, sim.InputError)
    for cls in (sim.HarnessError, sim.CgroupError, sim.SwapError, sim.FillError, sim.RedisServerError):
        assert issubclass(cls, RuntimeError) and not issubclass(cls, sim.InputError)
    assert not issubclass(sim.ProfileError, sim.InputError)


def test_exit_statuses_are_defined_once():
    defined = [
        f"{p.relative_to(SIM)}:{n.targets[0].id}"
        for p in SIM.rglob("*.py")
        for n in ast.walk(ast.parse(p.read_text()))
        if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name) and n.targets[0].id.startswith("EXIT_")
    ]
    assert defined and all(d.startswith("errors.py:") for d in defined), defined
