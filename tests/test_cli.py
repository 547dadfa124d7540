"""The rbsim command end to end, as a user runs it (a subprocess per call)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def rbsim(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "sim.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_run_prints_a_summary_per_scenario():
    done = rbsim("run", *SCENARIOS)
    assert done.returncode == 0, done.stderr
    for path in SCENARIOS:
        assert str(path) in done.stdout
    assert done.stdout.count("outcome") == len(SCENARIOS)


def test_json_has_the_contract_fields():
    done = rbsim("run", "--json", *SCENARIOS)
    results = json.loads(done.stdout)
    assert len(results) == len(SCENARIOS)
    required = {
        "outcome",
        "method",
        "fork_stall_s",
        "save_duration_s",
        "cow_peak_bytes",
        "peak_memory_bytes",
        "memory_limit_bytes",
        "swap_peak_bytes",
        "max_latency_ms",
        "rdb_bytes",
        "oom_victim",
        "writes_delayed",
        "p50_latency_ms",
        "p99_latency_ms",
        "replica_lag_s",
        "backup_storage_usd_month",
        "warnings",
    }
    for r in results:
        assert required <= set(r)
        assert r["outcome"] in ("ok", "paging", "failed", "oom")
    by_name = {r["scenario"]: r for r in results}
    assert by_name["comfortable"]["outcome"] == "ok"
    assert by_name["write-heavy"]["outcome"] in ("paging", "oom")
    assert by_name["write-heavy-from-replica"]["max_latency_ms"] < by_name["write-heavy"]["max_latency_ms"]
    assert by_name["old-xen-fork-stall"]["fork_stall_s"] > 5
    assert by_name["old-engine-buffer-overflow"]["outcome"] == "failed"
    assert by_name["oom-score-adj"]["oom_victim"] == "child"
    assert by_name["forkless-auto"]["method"] == "forkless" and by_name["forkless-auto"]["writes_delayed"] > 0
    assert len(by_name["cluster-skewed"]["shards"]) == 4
    assert by_name["cluster-skewed"]["backup_storage_usd_month"] > 0


def test_out_writes_timeline_plot_and_json(tmp_path):
    done = rbsim("run", SCENARIOS[0], "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    name = json.loads(rbsim("run", "--json", SCENARIOS[0]).stdout)[0]["scenario"]
    import pandas as pd

    timeline = pd.read_csv(tmp_path / f"{name}.timeline.csv")
    assert {"time_s", "cow_bytes", "demand_bytes", "memory_limit_bytes"} <= set(timeline.columns)
    png = (tmp_path / f"{name}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert json.loads((tmp_path / f"{name}.json").read_text())["scenario"] == name


def test_parquet_timeline(tmp_path):
    pytest.importorskip("pyarrow")
    assert rbsim("run", SCENARIOS[0], "--out", tmp_path, "--format", "parquet").returncode == 0
    assert list(tmp_path.glob("*.timeline.parquet"))


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("node: {type: cache.r6g.larg}\ndataset: {keys: 1M, value_size: 1KB}\n", "did you mean 'cache.r6g.large'"),
        ("node: {memory: 1400}\ndataset: {keys: 1M, value_size: 1KB}\n", "node.memory"),
        (
            "node: {memory: 1GiB}\ndataset: {keys: 1M, value_size: 1KB}\nworkload: {writes: 5k}\n",
            "unknown field 'writes'",
        ),
        ("node: [oops\n", "malformed YAML"),
    ],
)
def test_bad_input_exits_2_with_one_clear_message(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    done = rbsim("run", path)
    assert done.returncode == 2
    assert fragment in done.stderr and "bad.yaml" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_bad_file_among_good_ones_runs_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("node: {memory: -1GiB}\ndataset: {keys: 1, value_size: 1B}\n")
    done = rbsim("run", SCENARIOS[0], bad)
    assert done.returncode == 2 and done.stdout == ""


def test_catalog_and_platforms_list():
    assert "cache.r6g.large" in rbsim("catalog").stdout
    listing = rbsim("platforms").stdout
    assert "nitro" in listing and "xen-pv" in listing and "lab" in listing
