"""Key popularity: distinct keys written after n writes, against closed forms and sampling."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.keydist import HotSet, HotSetSpec, Uniform, Zipf
from sim.physics.keyspace import popularity, sample_keys, scatter


def test_uniform_distinct_fraction_closed_form():
    pop = popularity(Uniform(), 1000)
    for n in (0, 10, 1000, 10_000):
        assert pop.distinct_fraction(n) == pytest.approx(1 - np.exp(-n / 1000))


def test_bucketed_zipf_matches_exact_sum():
    """Bucketing ranks beyond the first 2000 changes the distinct fraction by well under 1 %."""
    keys, s = 200_000, 0.99
    w = np.arange(1, keys + 1, dtype=float) ** -s
    p = w / w.sum()
    pop = popularity(Zipf(zipf=s), keys)
    assert pop.keys == keys
    assert pop.probs @ pop.counts == pytest.approx(1.0)
    for n in (1e3, 1e5, 1e6, 1e7):
        exact = float(np.mean(-np.expm1(-p * n)))
        assert pop.distinct_fraction(n) == pytest.approx(exact, rel=5e-3)


def test_hot_set_classes():
    pop = popularity(HotSet(hot_set=HotSetSpec(keys=0.1, writes=0.9)), 1000)
    assert list(pop.counts) == [100, 900]
    assert pop.probs[0] == pytest.approx(0.9 / 100) and pop.probs[1] == pytest.approx(0.1 / 900)


@settings(max_examples=30, deadline=None)
@given(keys=st.integers(1, 50_000), s=st.floats(0.5, 1.5), n=st.floats(0, 1e7))
def test_distinct_fraction_is_a_probability_and_skew_lowers_it(keys, s, n):
    zipf = popularity(Zipf(zipf=s), keys).distinct_fraction(n)
    uniform = popularity(Uniform(), keys).distinct_fraction(n)
    assert 0.0 <= zipf <= 1.0
    assert zipf <= uniform + 1e-9


@pytest.mark.parametrize("dist", [Uniform(), Zipf(zipf=1.1), HotSet(hot_set=HotSetSpec(keys=0.05, writes=0.8))])
def test_sampled_keys_reproduce_the_distinct_fraction(dist):
    """Monte-Carlo: distinct keys among sampled writes match the analytic fraction."""
    rng = np.random.default_rng(7)
    keys, n = 20_000, 15_000
    pop = popularity(dist, keys)
    runs = [len(np.unique(sample_keys(dist, keys, n, rng))) / keys for _ in range(20)]
    assert np.mean(runs) == pytest.approx(pop.distinct_fraction(n), rel=0.02)


@given(st.integers(1, 10_000))
def test_scatter_is_a_bijection(keys):
    ids = scatter(np.arange(keys), keys)
    assert sorted(ids.tolist()) == list(range(keys))
