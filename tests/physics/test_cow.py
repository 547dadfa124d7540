"""Copy-on-write: the page formula against a direct Monte-Carlo of keys on pages, and its properties."""

import numpy as np
import pytest
from helpers import PAGE, one_class
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.keydist import HotSet, HotSetSpec, Uniform, Zipf
from sim.physics.cow import cow_model
from sim.physics.keyspace import popularity, sample_keys
from sim.physics.layout import key_layout


def monte_carlo_dirty_pages(dist, keys: int, slot: int, writes: int, runs: int = 12, seed: int = 1) -> float:
    """Lay keys out in id order in slots of ``slot`` bytes; count distinct pages any written key touches."""
    rng = np.random.default_rng(seed)
    first = (np.arange(keys) * slot) // PAGE
    last = (np.arange(keys) * slot + slot - 1) // PAGE
    counts = []
    for _ in range(runs):
        written = np.unique(sample_keys(dist, keys, writes, rng))
        dirty = np.zeros(last[-1] + 1, dtype=bool)
        for offset in range(int((last - first).max()) + 1):
            pages = np.minimum(first[written] + offset, last[written])
            dirty[pages] = True
        counts.append(dirty.sum())
    return float(np.mean(counts))


@pytest.mark.parametrize("slot", [32, 1280, 5120, 12288])
@pytest.mark.parametrize(
    "dist", [Uniform(), Zipf(zipf=0.99), Zipf(zipf=1.2), HotSet(hot_set=HotSetSpec(keys=0.1, writes=0.9))]
)
def test_formula_matches_monte_carlo(dist, slot):
    keys = 30_000
    model = cow_model(one_class(slot), keys, popularity(dist, keys), page_size=PAGE)
    for writes in (300, 3_000, 30_000):
        mc = monte_carlo_dirty_pages(dist, keys, slot, writes)
        assert model.dirty_pages(writes) == pytest.approx(mc, rel=0.06), (writes, slot)


def test_uniform_single_slot_pages_is_the_classic_formula():
    """With one key per page, dirty pages = P (1 - e^(-n/P))."""
    keys = 50_000
    model = cow_model(one_class(PAGE), keys, popularity(Uniform(), keys), page_size=PAGE)
    for n in (1_000, 50_000, 500_000):
        assert model.dirty_pages(n) == pytest.approx(keys * (1 - np.exp(-n / keys)), rel=1e-9)


def real_model(keys=200_000, value=1000, dist=None, dismiss=False):
    return cow_model(
        key_layout(16, value, keys), keys, popularity(dist or Uniform(), keys), PAGE, dismiss_large_values=dismiss
    )


@settings(max_examples=40, deadline=None)
@given(
    keys=st.integers(10, 2_000_000),
    value=st.integers(1, 50_000),
    n=st.floats(0, 1e9),
    more=st.floats(0, 1e8),
    s=st.floats(0.6, 1.4),
)
def test_cow_bounded_by_dataset_and_monotone_in_writes(keys, value, n, more, s):
    layout = key_layout(16, value, keys)
    for dist in (Uniform(), Zipf(zipf=s)):
        model = cow_model(layout, keys, popularity(dist, keys), PAGE)
        a, b = model.cow_bytes(n), model.cow_bytes(n + more)
        assert 0 <= a <= b + 1e-6
        assert b <= keys * layout.bytes_per_key + PAGE * len(layout.rewritten) + 1


@settings(max_examples=30, deadline=None)
@given(rate=st.floats(1, 1e5), faster=st.floats(1.0, 10), seconds=st.floats(0.1, 600), longer=st.floats(1.0, 10))
def test_cow_grows_with_write_rate_and_save_time(rate, faster, seconds, longer):
    model = real_model()
    base = model.cow_bytes(rate * seconds)
    assert model.cow_bytes(rate * faster * seconds) >= base
    assert model.cow_bytes(rate * seconds * longer) >= base


def test_skew_lowers_cow():
    n = 100_000
    assert (
        real_model(dist=Zipf(zipf=1.2)).cow_bytes(n)
        < real_model(dist=Zipf(zipf=0.8)).cow_bytes(n)
        < real_model().cow_bytes(n)
    )


def test_huge_pages_copy_far_more_for_few_writes():
    keys = 10_000_000
    layout, pop = key_layout(16, 1000, keys), popularity(Uniform(), keys)
    small = cow_model(layout, keys, pop, 4096).cow_bytes(1000)
    huge = cow_model(layout, keys, pop, 2 * 1024 * 1024).cow_bytes(1000)
    assert huge > 20 * small


def test_child_dismissal_releases_saved_large_values_only():
    """Redis 7 frees saved values of a page or more in the child: COW falls as the save progresses."""
    big, small = real_model(value=10_000, dismiss=True), real_model(value=1000, dismiss=True)
    n = 50_000
    assert big.cow_bytes(n, progress=1.0) < big.cow_bytes(n, progress=0.0)
    assert big.cow_bytes(n, progress=0.0) == pytest.approx(real_model(value=10_000).cow_bytes(n))
    assert small.cow_bytes(n, progress=1.0) == pytest.approx(small.cow_bytes(n, progress=0.0))


@pytest.mark.parametrize(
    "size, span, inner", [(32, 1.0, 0.0), (1280, 1.25, 0.0), (5120, 2.0, 0.5), (12288, 3.0, 3.0), (4096, 1.0, 1.0)]
)
def test_page_spans_of_jemalloc_slots(size, span, inner):
    from sim.physics.cow import page_spans

    assert page_spans(size, PAGE) == pytest.approx((span, inner))


def test_dismissal_formula_matches_monte_carlo():
    """Keys saved (in random order) before being written release their pages: COW = (1 - x) x dirty."""
    rng = np.random.default_rng(3)
    keys, slot, writes = 20_000, 3 * PAGE, 8_000
    model = cow_model(one_class(slot), keys, popularity(Uniform(), keys), PAGE, dismiss_large_values=True)
    order = rng.permutation(keys)  # position of each key in the save
    for x in (0.0, 0.3, 0.8):
        counts = []
        for _ in range(10):
            written = np.unique(sample_keys(Uniform(), keys, writes, rng))
            unsaved = written[order[written] >= x * keys]
            counts.append(3 * len(unsaved))
        assert model.dirty_pages(writes, x) == pytest.approx(np.mean(counts), rel=0.03)
