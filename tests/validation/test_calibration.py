"""Calibration recovers known parameters, and validation scores predictions, on harness records.

The records are real runs kept in reports/validation/records; here their measured figures are
replaced by what the simulator predicts with a known profile (plus noise), so the fit must find
that profile again: a closed loop that does not depend on how noisy the real runs were.
"""

import copy

import numpy as np
import pytest
from helpers import REPO_ROOT

from sim.harness.record import load_records
from sim.platform import load_platform
from sim.validation.calibrate import calibrate, split, training_split
from sim.validation.cli import typed_training_ids
from sim.validation.errors import confusion, error_table, summary_table
from sim.validation.predict import predict, prediction_scenario

RECORDS = REPO_ROOT / "reports" / "validation" / "records"
TYPED_RECORDS = REPO_ROOT / "reports" / "validation" / "typed-records"


@pytest.fixture(scope="module")
def all_records():
    found = load_records(RECORDS)
    assert len(found) >= 30, "the validation set should hold at least 30 real runs"
    return found


@pytest.fixture(scope="module")
def records(all_records):
    """Short runs without swap: enough for every fit but paging, and quick to simulate."""
    quick = [r for r in all_records if not r["config"]["swap_bytes"] and (r["measured"]["save_duration_s"] or 0) < 12]
    return quick[:16]


def synthetic(records, truth, seed=1):
    """Records whose measurements are the simulator's predictions under ``truth``, with 3 % noise."""
    rng = np.random.default_rng(seed)
    out = []
    for r in records:
        r = copy.deepcopy(r)
        c = predict(r, truth)
        m = r["measured"]
        noise = lambda: float(rng.normal(1.0, 0.03))  # noqa: E731 - a one-line helper local to this test
        m["fork_usec"] = c.predicted["fork_s"] * 1e6 * noise()
        m["outcome"] = c.result["outcome"]
        m["backup_completed"] = c.result["backup_completed"]
        m["save_duration_s"] = c.predicted["save_duration_s"] * noise() if c.result["backup_completed"] else None
        m["rdb_last_cow_size"] = c.predicted["cow_bytes"] if c.result["backup_completed"] else None
        r["fill"]["used_memory_rss"] = c.result["rss_bytes"]
        out.append(r)
    return out


def test_split_is_deterministic_and_stratified(all_records):
    records = all_records
    train, held = split(records, 0.6)
    again, _ = split(records, 0.6)
    assert [r["id"] for r in train] == [r["id"] for r in again]
    assert len(train) + len(held) == len(records)
    for outcome in {r["measured"]["outcome"] for r in records}:
        n = sum(r["measured"]["outcome"] == outcome for r in records)
        if n > 1:
            assert any(r["measured"]["outcome"] == outcome for r in held)


def test_pooled_split_keeps_each_typed_scenario_on_one_side_and_matches_validate(all_records):
    """Calibrating on string and typed records together fits on the typed scenarios validate treats as
    training, and never on a run of a held-out typed scenario."""
    typed_records = load_records(TYPED_RECORDS)
    train, held = training_split(all_records + typed_records)
    assert len(train) + len(held) == len(all_records) + len(typed_records)
    typed_train = {r["id"] for r in train if r in typed_records}
    assert typed_train == typed_training_ids(typed_records)
    train_names = {r["scenario"]["name"] for r in train if r in typed_records}
    assert not train_names & {r["scenario"]["name"] for r in held if r in typed_records}
    strings_train, _ = split(all_records)
    assert {r["id"] for r in train if r in all_records} == {r["id"] for r in strings_train}


def test_the_save_fit_skips_typed_records(records):
    """Typed records pool into the fork fit but not the save fit, whose per-key and per-byte features
    describe plain strings: a typed record claiming an absurd save time leaves the save costs alone."""
    lab = load_platform("lab")
    typed_records = copy.deepcopy(load_records(TYPED_RECORDS)[:3])
    for r in typed_records:
        r["measured"]["save_duration_s"] = 500.0
    plain = calibrate(records, lab)
    pooled = calibrate(records + typed_records, lab)
    assert pooled.save.us_per_key == pytest.approx(plain.save.us_per_key)
    assert pooled.fork.ms_per_gib != plain.fork.ms_per_gib


def test_calibration_recovers_fork_and_save_costs(records):
    lab = load_platform("lab")
    truth = lab.model_copy(
        update={
            "fork": lab.fork.model_copy(update={"base_ms": 3.0, "ms_per_gib": 31.0}),
            "save": lab.save.model_copy(update={"us_per_key": 2.5, "delay_overhead_us": 80.0}),
        }
    )
    base = copy.deepcopy(records)
    for r in base[:6]:  # some saves without writes
        r["load"]["served_writes_per_sec_before"] = r["load"]["target_writes_per_sec"] = 0
    fitted = calibrate(synthetic(base, truth), lab)
    assert fitted.fork.ms_per_gib == pytest.approx(31.0, rel=0.1)
    assert fitted.fork.base_ms == pytest.approx(3.0, abs=2.0)
    assert fitted.save.us_per_key == pytest.approx(2.5, rel=0.3)
    assert len(fitted.calibration["records"]) == len(records)


def test_validation_tables(records):
    lab = load_platform("lab")
    comparisons = [predict(r, lab) for r in records[:10]]
    errors = error_table(comparisons)
    assert set(errors["metric"]) >= {"fork_s", "peak_container_bytes"}
    summary = summary_table(errors)
    assert (summary["runs"] > 0).all() and (summary["median_abs_error_pct"] >= 0).all()
    table = confusion(comparisons)
    assert table.values.sum() == len(comparisons)


def test_prediction_runs_the_full_pipeline_of_rbsim_run(records):
    """A record is predicted as `rbsim run` simulates: managed rules and storage figures included."""
    result = predict(records[0], load_platform("lab")).result
    assert result.summary["backups_kept"] >= 1 and result.summary["operations_blocked_s"] >= 0
    assert not result.timeline.empty  # the served write rate during the save is read from the timeline


def test_a_prediction_replays_the_runs_steady_phase_before_the_fork(records):
    """The harness writes for ~2 s before its BGSAVE (the timeline starts at t < 0): the model starts as
    early, so memory grows (or is refused at maxmemory) before the fork as it did in the run."""
    record = copy.deepcopy(records[0])
    assert record["timeline"][0]["t"] == pytest.approx(-2.0, abs=0.05)
    assert prediction_scenario(record).simulation.before == pytest.approx(2.0)
    record["timeline"] = [row for row in record["timeline"] if row["t"] >= -0.5]
    assert prediction_scenario(record).simulation.before == pytest.approx(1.0)  # at least 1 s
