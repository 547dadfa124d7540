"""A throwaway redis-server for tests that compare the memory model with a real server, and fill helpers."""

from __future__ import annotations

import math
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

REDIS_SERVER = "/usr/bin/redis-server"
PAGE = 4096


def available() -> bool:
    return shutil.which(REDIS_SERVER) is not None


def _free_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair (port, port + 10000) found")


@contextmanager
def redis_server(*extra: str) -> Iterator:
    """A redis-server on a free port with no persistence; yields a redis-py client; always stopped."""
    import redis

    with tempfile.TemporaryDirectory(prefix="rbsim-dt-") as tmp:
        port = _free_port()
        args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        proc = subprocess.Popen(
            [*args, "--dir", tmp, "--daemonize", "no", *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            client = redis.Redis(host="127.0.0.1", port=port)
            for _ in range(250):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if proc.poll() is not None:
                        raise RuntimeError(f"redis-server exited with {proc.returncode}") from None
                    time.sleep(0.02)
            else:
                raise RuntimeError("redis-server did not answer PING")
            yield client
            client.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def used_memory(client) -> int:
    return int(client.info("memory")["used_memory"])


def used_per_key(client, keys: int, fill: Callable[[object, int], None]) -> float:
    """used_memory added per key by ``fill(pipeline, i)`` for i < keys, on a flushed server.

    The fill runs on its own connection, closed before measuring, so its buffers are not counted."""
    import redis

    client.flushall()
    time.sleep(0.05)
    before = used_memory(client)
    kwargs = client.connection_pool.connection_kwargs
    filler = redis.Redis(host=kwargs["host"], port=kwargs["port"])
    pipe = filler.pipeline(transaction=False)
    for i in range(keys):
        fill(pipe, i)
        if i % 200 == 199:
            pipe.execute()
    pipe.execute()
    filler.close()
    time.sleep(0.25)  # serverCron finishes rehashing the db dict (activerehashing)
    return (used_memory(client) - before) / keys


def key_name(i: int, size: int) -> str:
    """A key name of exactly ``size`` bytes."""
    return f"k:{i:0{max(1, size - 2)}d}"


def text(size: int, salt: int) -> bytes:
    """A ``size``-byte value that never parses as a number (letters)."""
    base = f"v{salt}x".encode()
    return (base * (size // len(base) + 1))[:size]


def predicted_cow_pages(layout, keys: int, command: str, n: int) -> float:
    """Pages dirtied by ``n`` commands on uniform keys, each Rewrite kind laid back to back on its own pages
    (as sim.physics.cow does): ``keys * per_key`` units of ``size`` bytes fill ``units * size / PAGE`` pages,
    a page overlaps ``m = 1 + (PAGE - gcd) / size`` units, a share ``q = 1 - exp(-n * count / units)`` of the
    units is hit, and a page stays clean with probability ``(1 - q)^m``."""
    total = 0.0
    for r in layout.effect(command).rewrites:
        units = keys * r.per_key
        pages = max(units * r.size / PAGE, 1.0)
        overlap = 1 + (PAGE - math.gcd(r.size, PAGE)) / r.size
        hit = 1 - math.exp(-n * r.count / units)
        total += pages * (1 - (1 - hit) ** overlap)
    return total


def save_cow_bytes(client, command, n: int) -> int:
    """rdb_last_cow_size of a BGSAVE during which ``command(pipeline)`` runs ``n`` times (pipelined)."""
    # freed pages jemalloc purges during the save leave the child as private pages: purge them first
    client.execute_command("MEMORY PURGE")
    client.bgsave()
    time.sleep(0.2)
    if command is not None:
        pipe = client.pipeline(transaction=False)
        for k in range(n):
            command(pipe)
            if k % 500 == 499:
                pipe.execute()
        pipe.execute()
    while client.info("persistence")["rdb_bgsave_in_progress"]:
        time.sleep(0.05)
    return int(client.info("persistence")["rdb_last_cow_size"])


def commands_cow_pages(client, spread, control, n: int, trials: int = 3) -> tuple[float, list[float]]:
    """Pages a save's child copies because ``n`` commands spread over the keys (``spread(pipe)``) rather than
    hitting one key (``control(pipe)``): the median of ``trials`` paired saves, and every pair's figure.

    The control save runs the same number of commands, so the pages that serving commands dirties (query and
    reply buffers, command statistics, the parent's own bookkeeping, about 110 pages here) cancel out; an idle
    save as the baseline left them in and varied by up to 15 pages between saves."""
    pairs = []
    for _ in range(trials):
        baseline = save_cow_bytes(client, control, n)
        pairs.append((save_cow_bytes(client, spread, n) - baseline) / PAGE)
    return statistics.median(pairs), pairs
