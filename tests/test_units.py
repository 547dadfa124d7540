"""Units: sizes, counts, rates and durations read as a user writes them."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim import units


@pytest.mark.parametrize(
    "text, expected",
    [
        ("13.07GiB", round(13.07 * 1024**3)),
        ("1KB", 1000),
        ("1KiB", 1024),
        ("512MiB", 512 * 1024**2),
        ("0B", 0),
        ("0", 0),
        ("2 GB", 2 * 10**9),
        ("1.5kib", 1536),
        (" 10B ", 10),
    ],
)
def test_sizes(text, expected):
    assert units.parse_size(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("1400", "no unit"),
        ("-1GiB", "negative"),
        ("20k/s", "is a rate"),
        ("8M", "count"),
        ("12 parsecs", "unknown unit"),
        ("lots", "cannot read"),
        (True, "expected"),
    ],
)
def test_bad_sizes_say_what_is_allowed(text, fragment):
    with pytest.raises(units.UnitError) as err:
        units.parse_size(text)
    assert fragment in str(err.value)
    assert "such as" in str(err.value)


def test_counts_rates_durations():
    assert units.parse_count("8M") == 8_000_000
    assert units.parse_count("250k") == 250_000
    assert units.parse_count(1000) == 1000
    assert units.parse_rate("20k/s") == 20_000
    assert units.parse_rate("20k") == 20_000
    assert units.parse_rate("1.2M/min") == pytest.approx(20_000)
    assert units.parse_rate("3600/h") == pytest.approx(1.0)
    assert units.parse_duration("500ms") == pytest.approx(0.5)
    assert units.parse_duration("15min") == 900
    assert units.parse_duration("1h") == 3600
    assert units.parse_fraction("10%") == pytest.approx(0.1)
    assert units.parse_fraction(0.25) == 0.25


@pytest.mark.parametrize(
    "parse, text",
    [
        (units.parse_rate, "20KB"),
        (units.parse_count, "1GiB"),
        (units.parse_rate, "5k/fortnight"),
        (units.parse_fraction, "150%"),
    ],
)
def test_wrong_kind_of_quantity(parse, text):
    with pytest.raises(units.UnitError):
        parse(text)


@given(st.integers(min_value=0, max_value=2**50))
def test_bytes_round_trip_through_iec_text(n):
    """Formatting to GiB/MiB text and reading it back stays within the printed precision."""
    text = units.format_bytes(n).replace(" ", "")
    assert units.parse_size(text) == pytest.approx(n, rel=0.005, abs=1)


@given(st.floats(min_value=0, max_value=1e7, allow_nan=False))
def test_rate_suffixes_agree(value):
    assert units.parse_rate(f"{value}k/s") == pytest.approx(units.parse_rate(value * 1000), rel=1e-9)
