"""Copy-on-write of several key groups: per-target popularity and rates, clustered vs scattered keys,
checked against a direct Monte-Carlo of units on pages."""

import numpy as np
import pytest

from sim.physics.cow import Target, cow_model_of
from sim.physics.keyspace import Popularity, popularity
from sim.scenario import Uniform, Zipf

PAGE = 4096


def uniform_pop(keys: int) -> Popularity:
    return popularity(Uniform(), keys)


def test_uniform_single_class_is_the_classic_formula():
    """One unit per page, uniform writes: dirty pages = pages (1 - exp(-n / pages)), scattered or clustered."""
    keys = 40_000
    for clustered in (False, True):
        model = cow_model_of([Target("slot", PAGE, uniform_pop(keys), clustered=clustered)], uniform_pop(keys), PAGE)
        for n in (500, 40_000, 400_000):
            assert model.dirty_pages(n) == pytest.approx(keys * -np.expm1(-n / keys), rel=1e-9)


def test_per_key_units_and_rates_scale_the_draws():
    """per_key units per key split a key's hits; per_write rewrites per command multiply them (uniform: closed form)."""
    keys, per_key, per_write = 10_000, 8, 0.25
    pop = uniform_pop(keys)
    model = cow_model_of([Target("field", PAGE, pop, per_key=per_key, per_write=per_write)], pop, PAGE)
    units = keys * per_key
    for n in (1_000, 100_000, 2_000_000):
        assert model.dirty_pages(n) == pytest.approx(units * -np.expm1(-n * per_write / units), rel=1e-9)


def monte_carlo(groups, writes: int, runs: int = 8, seed: int = 5) -> float:
    """Dirty pages of several groups, each in its own slab run of ``slot``-byte slots, by direct simulation.

    A group: (keys, zipf s or None, per_key, slot, share of the writes, clustered). Every write command
    picks a group by its share, a key by rank from the group's exact distribution, then one of the key's
    ``per_key`` units uniformly; clustered groups keep units in rank order, scattered ones in a random order
    (the model's assumption; the harness's Fibonacci stride spreads hot keys more evenly than chance and
    copies up to ~9 % less at Zipf 1.1).
    """
    rng = np.random.default_rng(seed)
    totals = []
    for _ in range(runs):
        dirty_total = 0
        picks = rng.multinomial(writes, [g[4] for g in groups])
        for (keys, s, per_key, slot, _, clustered), count in zip(groups, picks, strict=True):
            weights = np.ones(keys) if s is None else np.arange(1, keys + 1, dtype=float) ** -s
            ranks = rng.choice(keys, size=count, p=weights / weights.sum())
            units = ranks * per_key + rng.integers(0, per_key, count)
            where = units if clustered else rng.permutation(keys * per_key)[units]
            written = np.unique(where)
            first, last = written * slot // PAGE, (written * slot + slot - 1) // PAGE
            pages = set(first.tolist()) | set(last.tolist())
            for extra in range(1, int((last - first).max(initial=0))):
                pages |= set((first + extra).tolist())
            dirty_total += len(pages)
        totals.append(dirty_total)
    return float(np.mean(totals))


def model_of(groups) -> float:
    targets = []
    for keys, s, per_key, slot, share, clustered in groups:
        pop = uniform_pop(keys) if s is None else popularity(Zipf(zipf=s), keys)
        targets.append(Target("g", slot, pop, per_key=per_key, per_write=share, clustered=clustered))
    return cow_model_of(targets, targets[0].popularity, PAGE)


@pytest.mark.parametrize("clustered", [False, True])
def test_two_group_mix_matches_monte_carlo(clustered):
    """A Zipf hash group with 4 field units per key (small slots) and a uniform string group (1 KiB slots)."""
    groups = [(6_000, 0.99, 4, 48, 0.7, clustered), (8_000, None, 1, 1024, 0.3, False)]
    model = model_of(groups)
    for writes in (2_000, 20_000, 120_000):
        assert model.dirty_pages(writes) == pytest.approx(monte_carlo(groups, writes), rel=0.06), writes


@pytest.mark.parametrize("slot", [64, 1280, 5120])
def test_clustered_hot_keys_copy_fewer_pages_as_monte_carlo_says(slot):
    """Hot keys adjacent in memory share pages: fewer copies than the same keys scattered, in both model and MC."""
    keys, s = (200_000 if slot < 512 else 20_000), 1.1
    scattered, clustered = ([(keys, s, 1, slot, 1.0, c)] for c in (False, True))
    for writes in (3_000, 30_000):
        mc_scattered, mc_clustered = monte_carlo(scattered, writes), monte_carlo(clustered, writes)
        model_scattered, model_clustered = (
            model_of(scattered).dirty_pages(writes),
            model_of(clustered).dirty_pages(writes),
        )
        assert model_clustered == pytest.approx(mc_clustered, rel=0.06), (writes, "clustered")
        assert model_scattered == pytest.approx(mc_scattered, rel=0.06), (writes, "scattered")
        if slot < PAGE:
            assert mc_clustered < 0.9 * mc_scattered and model_clustered < 0.9 * model_scattered
