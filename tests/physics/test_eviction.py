"""Expiry, eviction and refused writes: conservation of bytes and keys, the maxmemory cap, and each policy."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.physics.eviction import Churn, churn_step, evictable_keys, expiry_per_sec, reuse_pages, union_pages

MAX = 1_000_000.0
PAGE = 4096


def churn(grow=100.0, shrink=0.0, expire_keys=0.0, key_bytes=100.0) -> Churn:
    return Churn(grow, shrink, expire_keys, expire_keys * key_bytes, MAX, key_bytes)


def test_expiry_rate_is_ttl_keys_over_their_mean_life():
    assert expiry_per_sec(1_000_000, 0.3, 3600) == pytest.approx(300_000 / 3600)
    assert expiry_per_sec(1_000, 0.0, 60) == 0.0


@pytest.mark.parametrize(
    "policy, evictable", [("noeviction", 0), ("allkeys-lru", np.inf), ("volatile-ttl", 40), ("allkeys-random", np.inf)]
)
def test_policies_choose_which_keys_may_go(policy, evictable):
    assert evictable_keys(policy, 40) == evictable


def test_noeviction_refuses_the_writes_that_do_not_fit():
    step = churn_step(churn(), used=MAX - 1_000, pool=0.0, evictable=0.0, writes=50.0, dt=1.0)
    assert float(step.used) == pytest.approx(MAX)
    assert float(step.rejected_writes) == pytest.approx(40.0)  # 10 writes of 100 B fit in the last 1,000 B
    assert float(step.evicted_keys) == 0.0


def test_allkeys_evicts_keys_to_stay_at_maxmemory_and_reuses_their_slots():
    step = churn_step(churn(), used=MAX - 1_000, pool=0.0, evictable=np.inf, writes=50.0, dt=1.0)
    assert float(step.used) == pytest.approx(MAX)
    assert float(step.evicted_keys) == pytest.approx(40.0) and float(step.rejected_writes) == 0.0
    assert float(step.reused) == pytest.approx(4_000.0) and float(step.fresh) == pytest.approx(1_000.0)


def test_volatile_runs_out_of_ttl_keys_then_refuses():
    step = churn_step(churn(), used=MAX, pool=0.0, evictable=15.0, writes=50.0, dt=1.0)
    assert float(step.evicted_keys) == pytest.approx(15.0)
    assert float(step.rejected_writes) == pytest.approx(35.0)
    assert float(step.evictable) == 0.0


def test_growth_refused_refuses_overwrites_alike():
    """Redis refuses SET even of the same size while used_memory is over maxmemory (noeviction): the share of
    the step the growth is refused, every DENYOOM command is."""
    mix = Churn(100.0, 0.0, 0.0, 0.0, MAX, 100.0, deny_share=0.8)  # NEW of 100 B among the writes
    full = churn_step(mix, used=MAX, pool=0.0, evictable=0.0, writes=100.0, dt=1.0)
    half = churn_step(mix, used=MAX - 5_000.0, pool=0.0, evictable=0.0, writes=100.0, dt=1.0)
    assert float(full.rejected_writes) == pytest.approx(80.0) and float(full.executed) == pytest.approx(0.2)
    assert float(half.rejected_writes) == pytest.approx(40.0) and float(half.executed) == pytest.approx(0.6)


def test_expired_keys_free_room_for_new_ones_without_new_rss():
    step = churn_step(churn(expire_keys=30.0), used=MAX, pool=0.0, evictable=0.0, writes=50.0, dt=1.0)
    assert float(step.expired_keys) == pytest.approx(30.0)
    assert float(step.rejected_writes) == pytest.approx(20.0)
    assert float(step.fresh) == 0.0 and float(step.reused) == pytest.approx(3_000.0)


@settings(max_examples=200, deadline=None)
@given(
    used=st.floats(0, 2 * MAX),
    pool=st.floats(0, MAX),
    evictable=st.one_of(st.just(np.inf), st.floats(0, 1e5)),
    writes=st.floats(0, 1e5),
    dt=st.floats(0, 100),
    grow=st.floats(0, 1e4),
    shrink=st.floats(0, 1e4),
    expire=st.floats(0, 1e3),
    key_bytes=st.floats(1, 1e4),
    deny=st.floats(0, 1),
)
def test_bytes_and_keys_are_conserved(used, pool, evictable, writes, dt, grow, shrink, expire, key_bytes, deny):
    c = Churn(grow, shrink, expire, expire * key_bytes, MAX, key_bytes, deny_share=deny, floor=1_000.0)
    s = churn_step(c, used, pool, evictable, writes, dt)
    accepted, released = float(s.fresh + s.reused), float(s.released)
    scale = 1.0 + used + pool + writes * (grow + shrink) + expire * key_bytes * dt
    assert float(s.used) - used == pytest.approx(accepted - released, abs=1e-9 * scale)  # used_memory balance
    assert float(s.pool) + float(s.reused) == pytest.approx(pool + released, abs=1e-9 * scale)  # freed slots
    refusing = 1.0 - accepted / (writes * grow) if writes * grow > 0 else 0.0  # the share of the growth refused
    assert float(s.rejected_writes) == pytest.approx(writes * deny * refusing, rel=1e-9, abs=1e-9)
    assert float(s.executed) == pytest.approx(1.0 - deny * refusing, abs=1e-9)
    evicted = float(s.evicted_keys) * key_bytes
    assert released - evicted <= expire * key_bytes * dt + writes * shrink + 1e-9 * scale  # never more than asked
    assert released - evicted <= max(0.0, used - 1_000.0) + 1e-9 * scale  # frees stop when no key is left
    assert min(s.fresh, s.reused, s.pool, s.evicted_keys, s.rejected_writes, s.expired_keys) >= 0
    assert float(s.evicted_keys) <= evictable + 1e-9
    # growth never takes used_memory past maxmemory (data already over it is only kept, not grown)
    assert float(s.used) <= max(MAX, used - (released - evicted)) * (1 + 1e-12) + 1e-6
    assert float(s.used) >= min(used, 1_000.0) - 1e-9 * scale
    if np.isinf(evictable):
        assert float(s.rejected_writes) == 0.0


def test_reused_slots_copy_distinct_random_pages():
    """Few reuses of sparse free slots copy one page each; many saturate at the data's pages (occupancy)."""
    pages = 10_000
    few, slope = reuse_pages(48.0 * 100, [48.0], [1.0], 0.001, PAGE, pages)
    assert float(few) == pytest.approx(100, rel=0.01) and float(slope) == pytest.approx(1 / 48, rel=0.01)
    many, _ = reuse_pages(48.0 * 10 * pages, [48.0], [1.0], 0.001, PAGE, pages)
    assert float(many) == pytest.approx(pages * (1 - np.exp(-10)))
    rng = np.random.default_rng(2)
    hits = rng.integers(0, pages, 30_000)  # 30,000 reused allocations on random pages, one free slot each
    assert float(reuse_pages(48.0 * 30_000, [48.0], [1.0], 0.001, PAGE, pages)[0]) == pytest.approx(
        len(np.unique(hits)), rel=0.01
    )
    assert float(reuse_pages(0.0, [48.0], [1.0], 0.0, PAGE, pages)[0]) == 0.0


def test_the_allocator_fills_a_page_s_free_slots_before_the_next():
    """jemalloc fills the oldest slab first: with 10 % of the slots free, a page of 64 B slots takes 6.4 reuses."""
    pages, slots = 20_000, PAGE // 64
    rng = np.random.default_rng(4)
    free = rng.random((pages, slots)) < 0.1  # freed at random over the data
    reused = 5_000
    order = np.flatnonzero(free.ravel())[:reused]  # oldest slab (lowest page) first, its free slots in turn
    copied = len(np.unique(order // slots))
    assert float(reuse_pages(64.0 * reused, [64.0], [1.0], 0.1, PAGE, pages)[0]) == pytest.approx(copied, rel=0.03)


def test_small_slots_of_a_key_share_pages_its_large_value_does_not():
    """A key of a 32 B entry and a 1 KiB value, 10 % freed: the entries refill 12.8 to a page, the values one."""
    key = 32 + 1024
    pages, per_byte = reuse_pages(0.0, [32.0, 1024.0], [32 / key, 1024 / key], 0.1, PAGE, 1e9)
    assert float(per_byte) * key == pytest.approx(1 / 12.8 + 1.0)


@settings(max_examples=60, deadline=None)
@given(
    pages=st.integers(1, 10**6),
    w=st.floats(0, 0.99),  # below saturation, where a finite difference stays inside [0, pages]
    r=st.floats(0, 0.99),
    dw=st.floats(0, 5),
    dr=st.floats(0, 5),
)
def test_pages_copied_two_ways_are_counted_once(pages, w, r, dw, dr):
    written, reused = w * pages, r * pages
    union, slope = union_pages(written, dw, reused, dr, pages)
    assert max(written, reused) - 1e-9 <= union <= min(pages, written + reused) + 1e-9
    step = 1e-9 * pages
    later, _ = union_pages(written + dw * step, dw, reused + dr * step, dr, pages)
    assert (later - union) / step == pytest.approx(slope, rel=1e-3, abs=1e-6)


def test_the_union_of_independent_page_sets_matches_a_monte_carlo():
    rng = np.random.default_rng(11)
    pages, written, reused = 5000, 1800, 2600
    sizes = [
        len(set(rng.choice(pages, written, replace=False)) | set(rng.choice(pages, reused, replace=False)))
        for _ in range(200)
    ]
    union, _ = union_pages(written, 0.0, reused, 0.0, pages)
    assert float(np.mean(sizes)) == pytest.approx(float(union), rel=0.01)


@settings(max_examples=200, deadline=None)
@given(
    pool=st.floats(0.0, 1e5),
    copied_share=st.floats(0.0, 1.0),
    writes=st.floats(1.0, 1e3),
    expire_keys=st.floats(0.0, 50.0),
)
def test_slots_a_pop_wrote_before_freeing_them_copy_nothing_when_reused(pool, copied_share, writes, expire_keys):
    """A queue's pops free slots they wrote (so copied): pushes reusing them copy nothing more. The reuse that
    copies is the reused bytes times the share of the available slots nobody wrote: the old pool, expiry."""
    shrink = 100.0
    c = Churn(100.0, shrink, expire_keys, expire_keys * 100.0, MAX, 100.0, shrink_copied=copied_share * shrink)
    step = churn_step(c, np.array(MAX / 2), np.array(pool), np.array(np.inf), writes, 1.0)
    freed, expired = writes * shrink, expire_keys * 100.0
    untouched = (pool + expired + freed * (1 - copied_share)) / (pool + expired + freed)
    assert float(step.reused_uncopied) == pytest.approx(float(step.reused) * untouched, rel=1e-9, abs=1e-9)
    if copied_share == 1.0 and pool == 0.0 and expire_keys == 0.0:
        assert float(step.reused_uncopied) == 0.0
