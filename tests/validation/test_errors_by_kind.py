"""The validation report splits errors by data type and keeps peaks pinned at the container limit apart."""

import copy

import pytest
from helpers import REPO_ROOT

from sim.harness.record import load_records
from sim.platform import load_platform
from sim.validation.errors import PINNED_WITHIN, error_table, per_kind_table, summary_table
from sim.validation.predict import predict, record_kind

RECORDS = REPO_ROOT / "reports" / "validation" / "records"

TYPED = """
name: typed
node: {memory: 1GiB}
platform: lab
dataset:
  groups:
    - {name: sessions, type: hash, keys: 1k, elements: 10, element_size: 40B}
    - {name: counters, keys: 1k, values: integers}
workload:
  writes_per_sec: 1k
  mix:
    - {group: sessions, command: HSET, share: SESSIONS}
    - {group: counters, command: INCR, share: COUNTERS}
"""


@pytest.fixture(scope="module")
def records():
    return load_records(RECORDS)


def typed_record(sessions_share: int) -> dict:
    text = TYPED.replace("SESSIONS", f"{sessions_share}%").replace("COUNTERS", f"{100 - sessions_share}%")
    return {"id": "t", "scenario_yaml": text}


def test_the_kind_is_the_type_taking_most_writes_or_mixed():
    assert record_kind(typed_record(80)) == "hash"
    assert record_kind(typed_record(20)) == "string"
    assert record_kind(typed_record(50)) == "mixed"


def test_every_string_record_is_of_kind_string(records):
    assert {record_kind(r) for r in records} == {"string"}


def test_peaks_at_the_limit_are_kept_out_of_the_peak_score(records):
    platform = load_platform("lab")
    sample = [r for r in records if r["measured"].get("peak_container_bytes")][:12]
    pinned = copy.deepcopy(sample[0])
    pinned["id"] = "pinned-copy"
    pinned["config"]["limit_bytes"] = int(pinned["measured"]["peak_container_bytes"] / (1 - PINNED_WITHIN / 2))
    errors = error_table([predict(r, platform) for r in [*sample, pinned]])
    peaks = errors[errors["metric"] == "peak_container_bytes"]
    assert peaks.loc[peaks["id"] == "pinned-copy", "pinned"].all()
    limits = {r["id"]: r["config"]["limit_bytes"] for r in [*sample, pinned]}
    for _, row in peaks.iterrows():
        assert row["pinned"] == (row["measured"] >= (1 - PINNED_WITHIN) * limits[row["id"]])
    unpinned = peaks[~peaks["pinned"]]
    summary = summary_table(errors).set_index("metric")
    assert summary.loc["peak_container_bytes", "runs"] == len(unpinned)
    assert summary.loc["peak_container_bytes", "median_abs_error_pct"] == pytest.approx(
        unpinned["error_pct"].abs().median()
    )
    kinds = per_kind_table(errors).set_index("kind")
    assert kinds.loc["string", "peak_pinned_runs"] == int(peaks["pinned"].sum())
    assert kinds.loc["string", "cow_runs"] == int((errors["metric"] == "cow_bytes").sum())
