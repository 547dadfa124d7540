"""How fast `rbsim profile` samples keys: a local redis-server holding 100k keys of mixed types (hashes, a
zset, a list, counters, strings with TTLs), sampled 30,000 keys (the auto maximum) by the profiler's SCAN path.
The auto time budget allows 1,000 keys/s (keysample.KEYS_PER_SECOND_BUDGET); a remote server pays two round
trips per 100-key SCAN batch on top of this.

Run: .venv/bin/python benchmarks/bench_profile_sample.py [--keys 100000] [--sample 30000]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import tempfile
import time

import redis
from common import busy, line

from sim.profiling import keysample
from sim.profiling.live import connect


def fill(client, keys: int) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(keys):
        r = i % 100
        if r < 30:
            pipe.hset(f"session:{i}", mapping={f"f{j}": "s" * 20 for j in range(10)})
        elif r < 32:
            pipe.hset(f"profile:{i}", mapping={f"field{j}": "p" * 80 for j in range(150)})
        elif r < 33:
            pipe.zadd(f"board:{i}", {f"player{j}": j for j in range(300)})
        elif r < 34:
            pipe.rpush(f"queue:{i}", *[b"q" * 100] * 50)
        elif r < 54:
            pipe.set(f"counter:{i}", i)
        else:
            pipe.set(f"cache:{i}", "c" * 250, ex=3600)
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=keysample.MAX_SAMPLE_KEYS)
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        print("profile key sample: skipped (redis-server is not installed)")
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", folder],
            stdout=subprocess.DEVNULL,
        )
        try:
            client = redis.Redis(port=port)
            for _ in range(200):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.02)
            fill(client, args.keys)
            url = f"redis://127.0.0.1:{port}/0"
            notes: list[str] = []
            sample = keysample.sample(
                lambda n: connect(url, db=n), 0, {0: args.keys}, args.sample, 600, time.monotonic, notes
            )
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(busy())
    line(
        f"profile key sample, {sample.keys:,} of {args.keys:,} mixed keys",
        f"{sample.keys / sample.seconds:,.0f} keys/s",
        ">= 1,000 keys/s",
    )


if __name__ == "__main__":
    main()
