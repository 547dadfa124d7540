"""README.md's examples run for real: shown output must be today's output, shown commands must work.

Each command goes through the ``rbsim`` entry point (``python -m sim.cli``) in a scratch folder that sees
the repository's scenarios and validation records, so nothing is written into the checkout.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

SKIPPED = {
    "make ": "installs packages or runs this suite, the benchmarks or a Jupyter server",
    "rbsim profile": "reads a live Redis server or an AWS account (network, credentials)",
    "rbsim harness": "runs as root for minutes (memory cgroups, swap files); tests/harness/ covers it",
    "--scheduler": "needs a running Dask scheduler at the address shown",
    "run_restores.sh": "runs as root for about 8 minutes",
}
"""README commands not run here, and why."""
EXIT_CODES = {"--fail-on oom,paging": 3}
"""Commands whose documented exit status is not 0 (write-heavy pages, so the CI gate trips)."""


def block_after(marker: str) -> str:
    """The first fenced block after ``marker`` in README.md, without its fences."""
    start = README.index(marker)
    match = re.compile(r"^```[a-z]*\n(.*?)^```", re.S | re.M).search(README, start)
    return match.group(1)


def rbsim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_scenario_shown_is_the_file():
    shown = block_after("A scenario (`scenarios/write-heavy.yaml`):")
    text = (ROOT / "scenarios/write-heavy.yaml").read_text()
    assert shown == "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))


def test_write_heavy_output_is_todays():
    shown = block_after("and what `rbsim run scenarios/write-heavy.yaml` prints:")
    done = rbsim("run", "scenarios/write-heavy.yaml", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip("\n") + "\n" == shown


def test_bad_input_message_is_todays(tmp_path):
    shown = block_after("Bad input gets one message")
    (tmp_path / "scenarios").mkdir()
    text = (ROOT / "scenarios/write-heavy.yaml").read_text()
    assert text.splitlines()[13] == "  writes_per_sec: 20k"  # line 14, as the message says
    (tmp_path / "scenarios/bad.yaml").write_text(text.replace("writes_per_sec: 20k", "writes_per_second: 20k"))
    done = rbsim("run", "scenarios/bad.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == "" and done.stderr == shown


def test_restore_lines_are_todays(tmp_path):
    block = block_after("Add a `restore:` block to a scenario")
    assert block.startswith("restore:\n")
    marker = "and `rbsim run scenarios/comfortable.yaml` with it prints"
    assert marker in README
    shown = block_after(marker)
    scenario = tmp_path / "comfortable-restore.yaml"
    scenario.write_text((ROOT / "scenarios/comfortable.yaml").read_text() + block)
    done = rbsim("run", str(scenario), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout[done.stdout.index("  restore  ") :].rstrip("\n") + "\n" == shown


def readme_commands() -> list[str]:
    """Every command line of the README's ``sh`` blocks (continuations joined, comments dropped)."""
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", README, re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.split(r"\s#\s", line, maxsplit=1)[0].strip()
            if line:
                commands.append(re.sub(r"\s+", " ", line))
    return commands


def test_readme_has_commands_to_run():
    assert sum(c.startswith(".venv/bin/rbsim ") for c in readme_commands()) >= 10


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A scratch folder with the repository's scenarios and validation records, shared in README order
    (`validate` reads the `lab.yaml` that `calibrate` writes)."""
    folder = tmp_path_factory.mktemp("readme")
    (folder / "scenarios").symlink_to(ROOT / "scenarios")
    (folder / "reports/validation").mkdir(parents=True)
    for records in ("records", "typed-records"):
        (folder / "reports/validation" / records).symlink_to(ROOT / "reports/validation" / records)
    return folder


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_works(command, sandbox):
    skip = next((why for key, why in SKIPPED.items() if key in command), None)
    if skip:
        pytest.skip(f"{command}: {skip}")
    assert command.startswith(".venv/bin/rbsim "), f"unknown kind of README command: {command}"
    args = []
    for word in shlex.split(command)[1:]:
        matches = sorted(sandbox.glob(word)) if "*" in word else []
        args += [str(m.relative_to(sandbox)) for m in matches] or [word]
    done = rbsim(*args, cwd=sandbox)
    expected = next((code for key, code in EXIT_CODES.items() if key in command), 0)
    assert done.returncode == expected, done.stderr
    assert "Traceback" not in done.stderr
