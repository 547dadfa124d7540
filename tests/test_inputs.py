"""Input handling found broken by a new user's tries (issue 9): each case failed before its fix."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sim
from sim.batch.sweep import sweep
from sim.cli import EXIT_OUTCOME, main
from sim.inputs import MAX_NODES, load_yaml
from sim.planner.spec import load_plan
from sim.profiling.live import redact_url, secrets_in
from sim.scenario import parse_scenario

BASE = "node: {type: cache.r6g.large}\ndataset: {keys: 100k, value_size: 1KB}\n"


def _cli(*argv) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of the rbsim entry point run in this process."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


# -- times of day are times, not base-60 numbers ------------------------------------------------------


def test_times_of_day_are_read_as_times_everywhere(tmp_path):
    scenario = parse_scenario(BASE + "backup: {start: 14:00}\n")
    assert scenario.backup.start == 14 * 3600
    path = tmp_path / "s.yaml"
    path.write_text(BASE + "plan: {node_types: [cache.r6g.large], windows: [02:00, 14:00]}\n")
    _, spec, _ = load_plan(path)
    assert spec.windows == [2 * 3600, 14 * 3600]
    table = sweep(path, grids=["backup.start=10:00,23:59"])
    assert list(table["backup.start"]) == [10 * 3600, 23 * 3600 + 59 * 60]


def test_notebook_reads_yaml_1_2_through_the_public_api():
    notebook = json.loads((Path(__file__).parents[1] / "notebooks" / "what-if.ipynb").read_text())
    code = "".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    assert "import yaml" not in code and "sim.load_scenario(" in code  # rbsim's one YAML 1.2 reader
    assert "\nimport sim  " in code and "from sim" not in code and "import sim." not in code
    assert set(re.findall(r"\bsim\.(\w+)", code)) <= set(sim.__all__)  # only public names


# -- malformed and extreme files: exit 2 naming the file and line ----------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        (BASE + "backup: {start: 2020-13-45}\n", ":3: cannot read timestamp '2020-13-45'"),
        (BASE + "backup: {compression: !!bool maybe}\n", ":3: cannot read bool 'maybe'"),
        (BASE.replace("100k", "9" * 4400), ":2: cannot read int"),
        (BASE.replace("100k", "1e400"), "dataset.keys: inf is not a finite number"),
        (BASE + "workload: {writes_per_sec: .nan}\n", "is not a finite number"),
        (BASE.replace("type: cache.r6g.large", "memory: 1e400GiB"), "node.memory: '1e400GiB' is not a finite"),
        (BASE.replace("100k", "3e19"), "is too large"),
        ("x: " + "[" * 1000 + "]" * 1000 + "\n", ":1: nested more than 32 levels"),
    ],
)
def test_bad_values_exit_2_naming_file_and_line(tmp_path, text, expected):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    code, _, err = _cli("run", path)
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"rbsim: {path}") and expected in err and len(err) < 1000


def test_alias_bomb_is_refused_quickly_with_a_short_message(tmp_path):
    lines = ['a0: &a0 ["xxxxxxxxxx", "xxxxxxxxxx", "xxxxxxxxxx"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = tmp_path / "bomb.yaml"
    path.write_text(BASE + "bomb:\n" + "".join(f"  {line}\n" for line in lines) + "plan: {x: *a9}\n")  # 880 bytes
    code, _, err = _cli("run", path)
    assert code == 2 and f"more than {MAX_NODES:,} values" in err and len(err) < 500


def test_echoed_values_are_cut(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(BASE + "workload: {writes_per_sec: '" + "9x" * 100_000 + "'}\n")
    code, _, err = _cli("run", path)
    assert code == 2 and "workload.writes_per_sec" in err and len(err) < 600


def test_non_utf8_fifo_and_device_files_are_refused(tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(BASE.encode() + b"description: caf\xe9\n")
    code, _, err = _cli("run", bad)
    assert code == 2 and f"{bad}:3: not UTF-8" in err
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero"):
        code, _, err = _cli("run", path)
        assert code == 2 and "not a regular file" in err


def test_csv_profiles_non_utf8_and_huge_fields(tmp_path):
    (tmp_path / "s.yaml").write_text(BASE + "workload: {daily_profile: {csv: day.csv}}\n")
    (tmp_path / "day.csv").write_bytes(b"time,writes_per_sec\n00:00,1k\n01:00,\xff\n")
    code, _, err = _cli("run", tmp_path / "s.yaml")
    assert code == 2 and "day.csv:3: not UTF-8" in err and "workload.daily_profile.csv" in err
    (tmp_path / "day.csv").write_text("time,writes_per_sec\n00:00," + "1" * 140_000 + "\n")
    code, _, err = _cli("run", tmp_path / "s.yaml")
    assert code == 2 and "field larger than field limit" in err


def test_platform_files_non_utf8(tmp_path):
    (tmp_path / "p.yaml").write_bytes(b"name: \xff\n")
    (tmp_path / "s.yaml").write_text(BASE + "platform: p.yaml\n")
    code, _, err = _cli("run", tmp_path / "s.yaml")
    assert code == 2 and "platform:" in err and "not UTF-8" in err


def test_records_with_wrong_types_name_the_file_and_field(tmp_path):
    src = sorted((Path(__file__).parents[1] / "reports" / "validation" / "records").glob("*.json"))[0]
    record = json.loads(src.read_text())
    record["measured"]["fork_usec"] = "fast"
    (tmp_path / "r.json").write_text(json.dumps(record))
    code, _, err = _cli("validate", tmp_path / "r.json")
    assert code == 2 and f"{tmp_path / 'r.json'}: measured.fork_usec: expected number or null, got 'fast'" in err
    (tmp_path / "r.json").write_bytes(b'{"schema": "\xff"}')
    code, _, err = _cli("calibrate", tmp_path / "r.json", "--out", tmp_path / "p.yaml")
    assert code == 2 and "not UTF-8" in err


# -- the simulator ----------------------------------------------------------------------------------------


def test_oom_after_the_save_is_an_outcome_not_an_escaped_interrupt(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "node: {type: cache.t4g.micro}\ndataset: {keys: 100k, value_size: 1KB}\n"
        "workload: {writes_per_sec: 50k, new_keys_fraction: 100%}\nsimulation: {after: 1h}\n"
    )
    code, out, _ = _cli("run", "--json", path)
    assert code == 0 and json.loads(out)[0]["outcome"] == "oom"


# -- the command line --------------------------------------------------------------------------------------


def test_fail_on_gates_ci_on_outcomes(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "node: {type: cache.t4g.micro}\ndataset: {keys: 100k, value_size: 1KB}\n"
        "workload: {writes_per_sec: 50k, new_keys_fraction: 100%}\nsimulation: {after: 1h}\n"
    )
    assert _cli("run", path)[0] == 0
    code, _, err = _cli("run", path, "--fail-on", "oom,paging")
    assert code == EXIT_OUTCOME and "outcome oom" in err
    assert _cli("run", path, "--fail-on", "paging")[0] == 0
    assert _cli("run", path, "--fail-on", "boom")[0] == 2


def test_out_must_be_a_writable_folder_and_names_never_collide(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("name: same\n" + BASE)
    b.write_text("name: same\n" + BASE.replace("100k", "200k"))
    (tmp_path / "file").write_text("")
    code, _, err = _cli("run", a, "--out", tmp_path / "file")
    assert code == 2 and "is not a folder" in err
    code, _, err = _cli("run", a, "--out", tmp_path / ("x" * 300))
    assert code == 2 and "cannot write there" in err
    code, _, err = _cli("run", a, b, "--out", tmp_path / "out")
    assert code == 0 and "same-2" in err
    keys = {json.loads((tmp_path / "out" / f"{s}.json").read_text())["keys"] for s in ("same", "same-2")}
    assert keys == {100_000, 200_000}
    assert not list((tmp_path / "out").glob(".*"))
    long = tmp_path / "long.yaml"
    long.write_text(f"name: {'n' * 300}\n" + BASE)
    assert _cli("run", long, "--out", tmp_path / "out")[0] == 0


def test_sweep_seed_and_out_are_checked_before_running(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(BASE)
    spec = ["--sample", "workload.writes_per_sec={range: [1k, 2k]}", "--runs", "2"]
    assert _cli("sweep", path, *spec, "--seed", "-1", "--out", tmp_path / "x.csv")[0] == 2
    code, _, err = _cli("sweep", path, *spec, "--out", "/proc/nope/x.csv", "--workers", "1")
    assert code == 2 and "cannot write there" in err


def test_catalog_into_a_closed_pipe_exits_quietly():
    proc = subprocess.run(
        f"{sys.executable} -m sim.cli catalog | head -1",
        shell=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
        timeout=60,
    )
    assert proc.stdout.startswith("node type") and proc.stderr == ""


def test_missing_extras_name_the_extra(tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_extras(name, *args, **kwargs):
        if name.split(".")[0] in ("pyarrow", "boto3"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_extras)
    path = tmp_path / "s.yaml"
    path.write_text(BASE)
    code, _, err = _cli("run", path, "--out", tmp_path / "o", "--format", "parquet")
    assert code == 2 and "rbsim[parquet]" in err
    code, _, err = _cli("profile", "elasticache://my-cache")
    assert code == 2 and "rbsim[aws]" in err


# -- profile ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["ab#cdef", "a/b?c#d", "x@y#z", "p?q/r"])
def test_passwords_with_url_delimiters_are_redacted(password):
    url = f"redis://:{password}@10.0.0.5:6379/0"
    assert password not in redact_url(url) and redact_url(url) == "redis://***@10.0.0.5:6379/0"
    assert password in secrets_in(url)
    code, _, err = _cli("profile", url.replace("10.0.0.5", "127.0.0.1").replace("6379", "1"), "--window", "1s")
    assert code == 2 and password not in err and "***" in err


# -- the YAML loader itself ------------------------------------------------------------------------------------


def test_yaml_1_2_values():
    data, _ = load_yaml("a: 14:00\nb: yes\nc: 0o17\nd: 01:30:00\n", "t")
    assert data == {"a": "14:00", "b": "yes", "c": 15, "d": "01:30:00"}


def test_scenario_with_many_shards_of_one_size_runs_once_per_size():
    scenario = parse_scenario(
        BASE + "workload: {writes_per_sec: 10k, key_distribution: {zipf: 0.99}}\ncluster: {shards: 500}\n"
    )
    from sim import run as run_module

    calls = []
    real = run_module.simulate
    try:
        run_module.simulate = lambda s, p, *rest: calls.append(s) or real(s, p, *rest)
        result = run_module.run(scenario)
    finally:
        run_module.simulate = real
    assert len(calls) == 1 and result.summary["cluster"]["shards"] == 500
    assert len(result.summary["shards"]) == 500


@pytest.mark.parametrize("name", ['"a\\udaa8b"', '"two\\nlines"'])
def test_names_must_be_printable_one_line_text(tmp_path, name):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: {name}\n" + BASE)
    code, _, err = _cli("run", path, "--out", tmp_path / "out")
    assert code == 2 and f"{path}:1: name:" in err
    assert not (tmp_path / "out").exists()  # refused before anything was made


def test_every_output_option_is_checked_before_the_work(tmp_path):
    (tmp_path / "file").write_text("")
    records = Path(__file__).parents[1] / "reports" / "validation" / "records"
    plan = Path(__file__).parents[1] / "scenarios" / "plan-orders-cache.yaml"
    for argv, option in (
        (["plan", plan, "--report", tmp_path / "file", "--workers", "1"], "--report"),
        (["calibrate", records, "--out", "/proc/nope/p.yaml"], "--out '/proc/nope/p.yaml'"),
        (["validate", records, "--out", tmp_path / "file"], "--out"),
    ):
        code, out, err = _cli(*argv)
        assert code == 2 and option in err and out == ""
