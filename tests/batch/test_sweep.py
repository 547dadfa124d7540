"""``rbsim sweep``: grids and Monte-Carlo samples over scenario fields, locally and on a Dask cluster."""

import argparse

import pandas as pd
import pytest

from sim.batch import sweep as sweep_mod
from sim.batch.runner import Runner
from sim.batch.sweep import split_top_level, sweep

TINY = """\
name: tiny
node: {type: cache.t4g.small}
dataset: {keys: 100k, value_size: 1KB}
workload: {writes_per_sec: 1k}
plan: {replicas: 0}
"""
GRID = ["--grid", "workload.writes_per_sec=1k,20k", "--grid", "node.type=cache.t4g.micro,cache.t4g.small"]


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def rbsim(*argv) -> int:
    parser = argparse.ArgumentParser(prog="rbsim")
    sweep_mod.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sweep", *map(str, argv), "--quiet"])
    return args.handler(args)


def test_values_split_at_top_level_commas_only():
    assert split_top_level("1k, 2k,3k") == ["1k", "2k", "3k"]
    assert split_top_level("uniform,{zipf: 0.9},{hot_set: {keys: 10%, writes: 90%}}") == [
        "uniform",
        "{zipf: 0.9}",
        "{hot_set: {keys: 10%, writes: 90%}}",
    ]


def test_grid_is_the_cartesian_product_with_parsed_inputs(tiny):
    table = sweep(tiny, grids=GRID[1::2])
    assert len(table) == 4 and table["error"].isna().all()
    assert sorted(table["workload.writes_per_sec"].unique()) == [1000.0, 20000.0]
    assert set(table["node.type"]) == {"cache.t4g.micro", "cache.t4g.small"}
    assert {"run", "outcome", "peak_memory_bytes", "cow_peak_bytes", "max_latency_ms"} <= set(table.columns)
    pairs = table.set_index(["node.type", "workload.writes_per_sec"])["memory_limit_bytes"]
    assert pairs[("cache.t4g.small", 1000.0)] > pairs[("cache.t4g.micro", 1000.0)]
    cow = table.set_index(["node.type", "workload.writes_per_sec"])["cow_peak_bytes"]
    assert cow[("cache.t4g.small", 20000.0)] > cow[("cache.t4g.small", 1000.0)]


def test_monte_carlo_sample_is_reproducible(tiny):
    samples = [
        "dataset.keys={normal: {mean: 100k, sd: 10k}}",
        "workload.key_distribution={choice: [uniform, {hot_set: {keys: 10%, writes: 90%}}]}",
        "dataset.value_size={range: [500B, 2KB]}",
    ]
    first = sweep(tiny, samples=samples, runs=5, seed=7)
    again = sweep(tiny, samples=samples, runs=5, seed=7)
    assert len(first) == 5 and first["error"].isna().all()
    pd.testing.assert_series_equal(first["dataset.keys"], again["dataset.keys"])
    assert first["dataset.value_size"].between(500, 2000).all()
    assert (first["keys"] - first["dataset.keys"]).abs().max() <= 1  # the simulated key count is the drawn one
    assert set(first["workload.key_distribution"]) <= {"uniform", '{"hot_set": {"keys": "10%", "writes": "90%"}}'}


def test_command_writes_csv_with_local_processes(tiny, tmp_path, capsys):
    out = tmp_path / "grid.csv"
    assert rbsim(tiny, *GRID, "--out", out, "--workers", 2) == 0
    table = pd.read_csv(out)
    assert len(table) == 4 and "4 runs in" in capsys.readouterr().out
    assert set(table["outcome"]) <= {"ok", "paging", "failed", "oom"}


def test_command_writes_parquet(tiny, tmp_path):
    pytest.importorskip("pyarrow")
    out = tmp_path / "mc.parquet"
    assert (
        rbsim(tiny, "--sample", "workload.writes_per_sec={range: [1k, 5k]}", "--runs", 3, "--out", out, "--workers", 1)
        == 0
    )
    assert len(pd.read_parquet(out)) == 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--grid", "workload.writes=1k,2k"],
            "unknown field path 'workload.writes': workload has no field 'writes'; "
            "did you mean 'workload.writes_per_sec'? (allowed here: writes_per_sec",
        ),
        (
            ["--grid", "workload.writes_per_sec=1k,2KB"],
            "(with --grid workload.writes_per_sec=2KB): workload.writes_per_sec: '2KB' is a size",
        ),
        (["--grid", "node.type=cache.r6g.larg"], "did you mean 'cache.r6g.large'"),
        (["--grid", "workload.writes_per_sec"], "write it as FIELD.PATH=VALUES"),
        (["--sample", "dataset.keys={range: [1k, 2k]}"], "--sample needs --runs N"),
        (["--sample", "dataset.keys={between: [1k, 2k]}", "--runs", "2"], "is not a distribution"),
        (["--grid", "dataset.keys=1k", "--sample", "dataset.keys={range: [1k, 2k]}", "--runs", "2"], "not both"),
        (["--grid", "plan.replicas=1"], "plan does not change the simulation"),
    ],
)
def test_bad_specs_get_clear_errors(tiny, tmp_path, capsys, argv, message):
    assert rbsim(tiny, *argv, "--out", tmp_path / "x.csv", "--workers", 1) == 2
    err = capsys.readouterr().err
    assert err.startswith("rbsim: ") and message in err


def test_odd_combinations_become_error_rows(tiny):
    table = sweep(tiny, grids=["backup.method=fork,forkless", "engine.version=2.8.19,7.0.15"])
    assert len(table) == 4
    failed = table[table["error"].notna()]
    assert len(failed) == 1 and "has no forkless backup" in failed["error"].iloc[0]


def test_same_sweep_on_a_dask_cluster(tiny, tmp_path):
    distributed = pytest.importorskip("distributed")
    local = sweep(tiny, grids=GRID[1::2])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Runner(scheduler=cluster.scheduler_address, chunk_size=1) as runner:
            remote = sweep(tiny, grids=GRID[1::2], runner=runner)
        out = tmp_path / "dask.csv"
        assert rbsim(tiny, *GRID, "--out", out, "--scheduler", cluster.scheduler_address) == 0
    columns = ["node.type", "workload.writes_per_sec", "outcome", "peak_memory_bytes"]
    pd.testing.assert_frame_equal(local[columns], remote[columns])
    assert len(pd.read_csv(out)) == 4
