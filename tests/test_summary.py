"""The result records: frozen, read by attribute or JSON key, and written to JSON by one function."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import scenario

from sim.run import run
from sim.scenario import load_scenario
from sim.summary import Managed, Summary, as_dict, plain, to_json

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.fixture(scope="module")
def single() -> Summary:
    return run(scenario(), timeline=False).summary


def test_a_summary_cannot_be_changed(single):
    field = "outcome"
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(single, field, "ok")
    with pytest.raises(AttributeError):  # slots: no stray attributes either
        object.__setattr__(single, "outcom", "ok")


def test_fields_read_by_attribute_and_by_json_key_agree(single):
    d = as_dict(single)
    for key, value in d.items():
        got = list(single[key]) if isinstance(value, list) else single[key]
        assert got == value or math.isnan(value), key
        owner = single.managed if key in {f.name for f in dataclasses.fields(Managed)} else single
        assert getattr(owner, key) is single[key], key
    assert single["backups_kept"] == single.managed.backups_kept == 1  # a flattened sub-record's key
    for absent in ("worst_shard", "shards", "restore_outcome"):  # a single node without restore: no such keys
        assert absent not in d
        with pytest.raises(KeyError):
            single[absent]


def test_json_is_standard_and_plain():
    record = Managed(operations_blocked_s=math.nan, backups_kept=np.int64(3), backup_storage_usd_month=np.float64(1.5))
    text = to_json({"runs": [record], "inf": math.inf})
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {
        "runs": [{"operations_blocked_s": None, "backups_kept": 3, "backup_storage_usd_month": 1.5}],
        "inf": None,
    }
    assert type(plain(np.int64(3))) is int


def test_a_cluster_holds_every_shard_and_its_totals():
    s = run(load_scenario(SCENARIOS / "cluster-skewed.yaml"), source_dir=SCENARIOS, timeline=False).summary
    assert s.cluster is not None and s.shards is not None
    assert s.cluster.shards == len(s.shards) and s.worst_shard in {x.scenario for x in s.shards}
    assert s.rdb_bytes == sum(x.rdb_bytes for x in s.shards)
    assert s.cluster.shards_failing == sum(x.outcome != "ok" for x in s.shards)
    assert all(x.managed is None and x.cluster is None for x in s.shards)  # a shard's own figures only
    d = json.loads(to_json(s))
    assert d["cluster"]["shards"] == len(d["shards"]) and d["worst_shard"] == s.worst_shard
    assert "backups_kept" in d and all("backups_kept" not in x for x in d["shards"])


def test_a_sweep_cell_holding_records_is_json():
    from sim.batch.sweep import sweep

    table = sweep(SCENARIOS / "plan-restore-rto.yaml", grids=["workload.writes_per_sec=5k"])
    shards = json.loads(table["restore_shards"].iloc[0])
    assert shards and {"keys", "slots", "load_s"} <= set(shards[0])


def test_the_timeline_follows_its_schema():
    from sim.result import TIMELINE_SCHEMA

    tl = run(scenario()).timeline
    assert list(tl.columns) == list(TIMELINE_SCHEMA)
    for name, kind in TIMELINE_SCHEMA.items():
        if kind == "str":  # pandas 3 infers its str dtype, pandas 2 keeps object
            assert pd.api.types.is_string_dtype(tl[name]), name
        else:
            assert tl[name].dtype == np.dtype(kind), name
    assert set(tl["phase"]) <= {"steady", "fork", "save", "after", "failed", "lost"}
