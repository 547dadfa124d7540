"""Fill a harness server with a scenario's dataset: ``key:0 .. key:<n-1>`` holding values of one size.

* ``value_pattern: repetitive`` -> ``DEBUG POPULATE n key value_size`` (values ``value:<i>`` padded with
  zero bytes; LZF shrinks them a lot), millions of keys a second.
* ``value_pattern: random`` -> pipelined SETs over a raw socket with incompressible values (slices of one big
  random buffer), well over 100k keys/s for values up to 1 KB.

:func:`check_fits` refuses, before any fill, a dataset the simulator's own layout estimate puts above
``maxmemory`` (Redis would refuse the writes with -OOM).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sim.errors import RbsimError
from sim.harness.resp import RespConnection, ValueSource, mean_key_name_bytes
from sim.keygroups import dataset_sizes
from sim.physics import layout as layout_mod

if TYPE_CHECKING:
    from sim.harness.server import RedisServer
    from sim.scenario import Scenario

FILL_BATCH = 2000


class FillError(RbsimError, RuntimeError):
    """The dataset cannot be filled (does not fit, or the server refused writes); the message says why."""


@dataclass(frozen=True)
class DatasetShape:
    """What the harness writes: key count, value size, pattern, and the simulator's used_memory estimate."""

    keys: int
    value_size: int
    pattern: str
    key_name_bytes_mean: float
    estimated_used_memory: int


@dataclass(frozen=True)
class FillResult:
    """How the fill went (the ``fill`` block of a record)."""

    method: str
    seconds: float
    keys: int
    key_name_bytes_mean: float
    used_memory: int
    used_memory_rss: int
    used_memory_dataset: int | None = None
    mem_fragmentation_ratio: float | None = None
    estimated_used_memory: int | None = None
    groups: list[dict[str, Any]] | None = None  # typed groups: one entry each (typedfill.GroupFill)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``groups`` only for typed groups)."""
        out = asdict(self)
        if self.groups is None:
            del out["groups"]
        return out


def dataset_shape(scenario: Scenario) -> DatasetShape:
    """Keys and value size of a scenario's dataset (derived from used_memory when given), as ``prepare`` does."""
    data = scenario.dataset
    alloc = scenario.engine.allocator
    keys, value_size, _ = dataset_sizes(scenario)
    name_bytes = mean_key_name_bytes(keys)
    estimate = layout_mod.used_memory(keys, max(1, round(name_bytes)), value_size, alloc)
    return DatasetShape(int(keys), int(value_size), data.value_pattern, name_bytes, int(estimate))


def check_fits(shape: DatasetShape, maxmemory: int, margin: float = 0.98) -> None:
    """Raise FillError if the dataset's estimated used_memory is above ``margin`` x maxmemory."""
    if shape.estimated_used_memory > margin * maxmemory:
        raise FillError(
            f"the dataset ({shape.keys:,} keys x {shape.value_size} B, about "
            f"{shape.estimated_used_memory / 2**20:,.0f} MiB of used_memory) does not fit maxmemory "
            f"{maxmemory / 2**20:,.0f} MiB (node memory minus the reserved share): lower dataset.keys or raise "
            f"node.memory / lower node.reserved_memory_percent"
        )


def fill_repetitive(server: RedisServer, keys: int, value_size: int, timeout: float = 600.0) -> None:
    """``DEBUG POPULATE keys key value_size``: keys ``key:<i>`` with values ``value:<i>`` zero-padded."""
    client = server.client(socket_timeout=timeout)
    try:
        client.execute_command("DEBUG", "POPULATE", keys, "key", value_size)
    finally:
        client.close()


def fill_random(
    server: RedisServer,
    keys: int,
    value_size: int,
    seed: int = 12345,
    deadline: float | None = None,
    batch: int = FILL_BATCH,
) -> None:
    """Pipelined ``SET key:<i> <random bytes>`` for i in [0, keys); raises FillError on -OOM or other errors."""
    values = ValueSource(value_size, "random", seed=seed)
    with RespConnection(server.listening_port, timeout=60) as conn:
        for start in range(0, keys, batch):
            _, errors = conn.pipeline_sets(range(start, min(start + batch, keys)), values)
            if errors:
                raise FillError(f"the server refused {errors} SETs while filling key {start:,}+: {conn.last_error}")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"fill still running at key {start:,} of {keys:,}")


def fill(server: RedisServer, shape: DatasetShape, deadline: float | None = None) -> FillResult:
    """Fill the dataset by the method its value pattern asks for, then read INFO memory."""
    t0 = time.monotonic()
    if shape.pattern == "repetitive":
        timeout = max(10.0, deadline - t0) if deadline is not None else 600.0
        fill_repetitive(server, shape.keys, shape.value_size, timeout=timeout)
        method = "debug-populate"
    else:
        fill_random(server, shape.keys, shape.value_size, deadline=deadline)
        method = "pipelined-set-random"
    seconds = time.monotonic() - t0
    mem = server.info("memory")
    n = server.client().dbsize()
    if n != shape.keys:
        raise FillError(f"filled {n:,} keys, expected {shape.keys:,}")
    return FillResult(
        method=method,
        seconds=round(seconds, 3),
        keys=int(n),
        key_name_bytes_mean=round(shape.key_name_bytes_mean, 3),
        used_memory=int(mem["used_memory"]),
        used_memory_rss=int(mem["used_memory_rss"]),
        used_memory_dataset=mem.get("used_memory_dataset"),
        mem_fragmentation_ratio=mem.get("mem_fragmentation_ratio"),
        estimated_used_memory=shape.estimated_used_memory,
    )
