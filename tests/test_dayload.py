"""Load over a day: hourly lists and CSV files of a real day."""

import pytest

from sim.dayload import DayLoad, DayLoadError, parse_time_of_day, read_day_csv
from sim.scenario import ScenarioError, parse_scenario


def test_time_of_day():
    assert parse_time_of_day("03:00") == 3 * 3600
    assert parse_time_of_day("14:30:15") == 14 * 3600 + 30 * 60 + 15
    for bad in ("25:00", "3pm", "12:61"):
        with pytest.raises(DayLoadError):
            parse_time_of_day(bad)


def test_hourly_steps_and_wraparound():
    load = DayLoad.hourly(list(range(24)), None)
    assert load.at(0) == (0, 0) and load.at(3 * 3600 + 5) == (3, 0) and load.at(86400 + 7200) == (2, 0)
    assert load.next_change(3 * 3600 + 600) == pytest.approx(3000)
    assert load.next_change(23.5 * 3600) == pytest.approx(1800)


def test_csv_day(tmp_path):
    path = tmp_path / "day.csv"
    path.write_text("# a real day\ntime,writes_per_sec,reads_per_sec\n06:00,20k,80k\n22:00,2k,5k\n")
    load = read_day_csv(path)
    assert load.at(7 * 3600) == (20_000, 80_000)
    assert load.at(23 * 3600) == (2_000, 5_000)
    assert load.at(1 * 3600) == (2_000, 5_000)  # the last row carries over midnight


def test_csv_errors_name_file_and_row(tmp_path):
    path = tmp_path / "day.csv"
    path.write_text("time,writes_per_sec\n06:00,20KB\n")
    with pytest.raises(DayLoadError, match=r"day.csv:2: .*is a size"):
        read_day_csv(path)


def test_scenario_checks_profiles(tmp_path):
    base = "node: {memory: 1GiB}\ndataset: {keys: 1k, value_size: 1KB}\n"
    with pytest.raises(ScenarioError, match="24 hourly values"):
        parse_scenario(base + "workload: {daily_profile: {writes_per_sec: [1k, 2k]}}\n")
    (tmp_path / "s.yaml").write_text(base + "workload: {daily_profile: {csv: missing.csv}}\n")
    from sim.scenario import load_scenario

    with pytest.raises(ScenarioError, match="workload.daily_profile.csv: cannot read load profile"):
        load_scenario(tmp_path / "s.yaml")
