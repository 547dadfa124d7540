"""Measure one redis-server's request ceiling on this machine over loopback (redis-benchmark, no pipelining).

Prints SET and GET requests/s and the implied main-thread time per request, the figure behind the
``latency.service_us`` of the lab profile and the ``throughput_ceiling_per_sec`` of a run (README, "Speed").
Starts its own server on a free port without persistence and stops it on exit.
"""

from __future__ import annotations

import csv
import io
import socket
import subprocess
import sys
import tempfile
import time

REQUESTS = 200_000
CLIENTS = 50


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        server = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                folder,
                "--bind",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            out = subprocess.run(
                [
                    "redis-benchmark",
                    "-p",
                    str(port),
                    "-t",
                    "set,get",
                    "-n",
                    str(REQUESTS),
                    "-c",
                    str(CLIENTS),
                    "-d",
                    "1000",
                    "-r",
                    "100000",
                    "--csv",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        finally:
            server.terminate()
            server.wait(timeout=10)
    for row in csv.DictReader(io.StringIO(out)):
        rps = float(row["rps"])
        print(
            f"{row['test']:<4} {rps:>10,.0f} requests/s  {1e6 / rps:5.1f} us/request  "
            f"({CLIENTS} clients, 1000-byte values, loopback, {REQUESTS:,} requests)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
