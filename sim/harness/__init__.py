"""Companion harness: run a real redis-server in a throw-away memory-limited container and measure it.

``rbsim harness FILE...`` (:mod:`sim.harness.cli`) plays a scenario file against a real server:
:mod:`~sim.harness.run` orchestrates one run, :mod:`~sim.harness.fill` loads the dataset,
:mod:`~sim.harness.loadgen` paces the writes, :mod:`~sim.harness.sampler` samples INFO / cgroup counters and
PING latency, :mod:`~sim.harness.record` writes the JSON record. The container pieces are
:mod:`~sim.harness.cgroup`, :mod:`~sim.harness.swap`, :mod:`~sim.harness.server`, :mod:`~sim.harness.oom` and
:mod:`~sim.harness.cleanup`; :mod:`~sim.harness.resp` speaks raw RESP for fast pipelined SETs.
"""

DEFAULT_BINARY = "/usr/bin/redis-server"
DEFAULT_TIMEOUT_S = 170.0
"""Wall-time budget of one run (fill + steady state + save); past it the run is killed: outcome ``timeout``."""
STEADY_S = 2.0
