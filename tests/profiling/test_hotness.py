"""Hot keys from idle times: the Zipf exponent fitted to when sampled keys were last touched."""

import numpy as np
import pytest

from sim.keydist import Uniform, Zipf
from sim.physics.keyspace import sample_keys
from sim.profiling.hotness import fit_zipf


def idle_times(distribution, keys: int, rate: float, seconds: float, sample: int, seed: int = 4) -> list[int]:
    """Write ``rate``/s to keys drawn from ``distribution`` for ``seconds``; the whole seconds since each
    sampled key's last write (never written: as old as the run), as OBJECT IDLETIME reports them."""
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    written = sample_keys(distribution, keys, n, rng)
    last = np.full(keys, -1.0)
    last[written] = np.arange(n) / rate  # later writes overwrite earlier ones
    idle = np.where(last >= 0, seconds - last, seconds + 3600)
    return [int(i) for i in idle[rng.choice(keys, sample, replace=False)]]


@pytest.mark.parametrize("s", [0.6, 0.99, 1.2])
def test_a_zipf_cache_is_recovered_from_its_idle_times(s):
    keys, rate = 200_000, 5_000
    exponent, why = fit_zipf(idle_times(Zipf(zipf=s), keys, rate, 300, 5000), keys, rate)
    assert exponent == pytest.approx(s, abs=0.1), why
    assert "OBJECT IDLETIME of 5000 sampled keys" in why


def test_uniform_writes_fit_uniform():
    keys, rate = 200_000, 5_000
    exponent, _ = fit_zipf(idle_times(Uniform(), keys, rate, 300, 5000), keys, rate)
    assert exponent is not None and exponent <= 0.15


def test_no_fit_without_enough_samples_writes_or_a_live_lru_clock():
    keys, rate = 200_000, 5_000
    idle = idle_times(Zipf(zipf=0.99), keys, rate, 300, 5000)
    assert fit_zipf(idle[:20], keys, rate)[0] is None
    assert fit_zipf(idle, keys, 0.0)[0] is None
    exponent, why = fit_zipf(idle, keys, rate, live_s=1.5)  # a save just ended: its child froze the LRU clock
    assert exponent is None and "froze" in why
