"""A paced write load in separate processes: SETs of existing keys at a target rate, keys drawn as the simulator
draws them.

Run as ``python -m sim.harness.loadgen --parent PID --port P --keys N --value-size V --rate W [--distribution JSON]
[--pattern random|repetitive] [--new-keys-fraction F]``: sends pipelined SETs of ``key:<id>`` with ids from
:func:`sim.physics.keyspace.sample_keys` (the very sampler the model assumes: popularity rank r is scattered
to key id by a fixed coprime stride), V-byte values (random slices of a random buffer, or DEBUG POPULATE's
repetitive pattern), paced to W writes/s by a deadline schedule, until SIGTERM/SIGINT; then prints one JSON
line with what it sent. With ``--spec FILE`` (typed key groups, :func:`write_spec`) it sends the scenario's
write mix instead: each write picks a mix entry by its share, a key of that group by the group's distribution
(clustered groups: rank r is key id r) and an element uniformly within the key. :class:`WriteLoad` starts one
or two such processes (two when one cannot keep the rate) and stops them; it registers them for cleanup.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sim.harness.cleanup import PARENT_FLAG, StopFlag, die_with_parent, registry

REPO_ROOT = Path(__file__).resolve().parents[2]
PIPELINES_PER_SEC = 200
"""Batches per second per process: ~5 ms apart, smooth enough at 30k/s, one SET each at low rates."""
ONE_PROCESS_MAX_RATE = 40_000
ONE_PROCESS_MAX_BYTES = 150e6
"""One Python process keeps ~180k SET/s of 1 KB unpaced here; above these it gets a helper process."""
TYPED_ONE_PROCESS_MAX_RATE = 25_000
"""One process builds ~100k typed mix commands/s here (lab machine, busy); with replies and pacing a
second process takes over above this rate."""
KEY_BLOCK = 65_536


def processes_for(rate: float, value_size: int) -> int:
    """How many load processes a rate needs (1 or 2)."""
    if rate > ONE_PROCESS_MAX_RATE or rate * (value_size + 40) > ONE_PROCESS_MAX_BYTES:
        return 2
    return 1


def distribution_from_json(text: str | None) -> Any:
    """A scenario key distribution from its JSON dump (``{"uniform": true}``, ``{"zipf": 0.99}``, ...)."""
    from sim.scenario import Workload

    if not text:
        return Workload().key_distribution
    return Workload.model_validate({"key_distribution": json.loads(text)}).key_distribution


class KeyStream:
    """Key ids for successive writes: ``sample_keys`` in blocks (``clustered``: the ranks themselves), plus new
    keys beyond the dataset if asked."""

    def __init__(
        self,
        distribution: Any,
        keys: int,
        seed: int,
        new_keys_fraction: float = 0.0,
        new_key_start: int | None = None,
        new_key_step: int = 1,
        clustered: bool = False,
    ) -> None:
        import numpy as np

        self.distribution = distribution
        self.keys = keys
        self.clustered = clustered
        self.rng = np.random.default_rng(seed)
        self.new_fraction = new_keys_fraction
        self.next_new = keys if new_key_start is None else new_key_start
        self.new_step = new_key_step
        self._block: list[int] = []
        self._pos = 0
        self.new_taken = 0

    def take(self, n: int) -> list[int]:
        """The next ``n`` key ids."""
        from sim.physics.keyspace import sample_keys, sample_ranks

        sample = sample_ranks if self.clustered else sample_keys  # clustered: rank r is key id r
        out: list[int] = []
        while len(out) < n:
            if self._pos >= len(self._block):
                self._block = sample(self.distribution, self.keys, KEY_BLOCK, self.rng).tolist()
                if self.new_fraction > 0:
                    fresh = (self.rng.random(KEY_BLOCK) < self.new_fraction).nonzero()[0]
                    for j in fresh.tolist():
                        self._block[j] = self.next_new
                        self.next_new += self.new_step
                self._pos = 0
            take = min(n - len(out), len(self._block) - self._pos)
            out.extend(self._block[self._pos : self._pos + take])
            self._pos += take
        if self.new_fraction > 0:
            self.new_taken += sum(1 for i in out if i >= self.keys)
        return out


def run(
    port: int,
    keys: int,
    value_size: int,
    rate: float,
    seed: int = 1,
    host: str = "127.0.0.1",
    distribution: Any = None,
    pattern: str = "repetitive",
    new_keys_fraction: float = 0.0,
    index: int = 0,
    procs: int = 1,
) -> dict:
    """Send paced SETs until SIGTERM/SIGINT; return counts."""
    from sim.harness.resp import RespConnection, ValueSource, set_commands

    flag = StopFlag()
    if distribution is None:
        distribution = distribution_from_json(None)
    stream = KeyStream(distribution, keys, seed, new_keys_fraction, new_key_start=keys + index, new_key_step=procs)
    values = ValueSource(value_size, pattern, seed=seed + 7919)
    conn = RespConnection(port, host, timeout=2.0)
    batch = max(1, int(round(rate / PIPELINES_PER_SEC)))
    interval = batch / rate
    sent = errors = batches = behind = 0
    last_error = None
    t0 = time.perf_counter()
    next_t = t0
    pending = 0
    while not flag.stopped:
        now = time.perf_counter()
        if pending == 0:
            if now < next_t:
                time.sleep(min(next_t - now, 0.05))
                continue
            if now - next_t > 1.0:  # fell far behind (server stalled): do not burst to catch up
                next_t = now
                behind += 1
            ids = stream.take(batch)
            try:
                conn.send(set_commands(ids, values))
            except (OSError, ConnectionError):
                break
            pending = len(ids)
        try:
            errors += conn.read_replies(pending)
        except TimeoutError:
            continue  # server busy (fork, paging): keep waiting unless told to stop
        except (OSError, ConnectionError):
            break  # server gone
        sent += pending
        batches += 1
        pending = 0
        next_t += interval
    elapsed = time.perf_counter() - t0
    conn.close()
    if conn.last_error:
        last_error = conn.last_error
    new = min(sent, stream.new_taken)
    return {
        "sent": sent,
        "elapsed_s": elapsed,
        "rate": sent / elapsed if elapsed else 0.0,
        "errors": errors,
        "batch": batch,
        "batches": batches,
        "resets_behind": behind,
        "last_error": last_error,
        "unanswered": pending,
        "commands": {"strings": {"SET": sent - new, "NEW": new}},
    }


def run_typed(port: int, spec_path: str, rate: float, seed: int = 1, index: int = 0, procs: int = 1) -> dict:
    """Send the typed write mix of ``spec_path`` (a :func:`write_spec` file), paced, until SIGTERM/SIGINT."""
    import numpy as np

    from sim.harness.groups import Payloads, WriteBuilder
    from sim.harness.resp import RespConnection

    groups, mix = load_spec(spec_path)
    by_name = {g.name: g for g in groups}
    flag = StopFlag()
    rng = np.random.default_rng(seed)
    streams = {
        g.name: KeyStream(g.distribution or distribution_from_json(None), g.keys, seed + 17 * k, clustered=g.clustered)
        for k, g in enumerate(groups)
    }
    builder = WriteBuilder(Payloads(seed + 7919), rng, index=index, procs=procs)
    shares = np.array([m.share for m in mix], float)
    shares /= shares.sum()
    counts = [0] * len(mix)
    conn = RespConnection(port, timeout=2.0)
    batch = max(1, int(round(rate / PIPELINES_PER_SEC)))
    interval = batch / rate
    sent = errors = batches = behind = pending = 0
    t0 = time.perf_counter()
    next_t = t0
    while not flag.stopped:
        now = time.perf_counter()
        if pending == 0:
            if now < next_t:
                time.sleep(min(next_t - now, 0.05))
                continue
            if now - next_t > 1.0:  # fell far behind (server stalled): do not burst to catch up
                next_t = now
                behind += 1
            picks = rng.choice(len(mix), size=batch, p=shares).tolist()
            parts = []
            for e in picks:
                entry = mix[e]
                group = by_name[entry.group]
                parts.append(builder.command(group, entry, streams[group.name].take(1)[0]))
                counts[e] += 1
            try:
                conn.send(b"".join(parts))
            except (OSError, ConnectionError):
                break
            pending = len(parts)
        try:
            errors += conn.read_replies(pending)
        except TimeoutError:
            continue
        except (OSError, ConnectionError):
            break
        sent += pending
        batches += 1
        pending = 0
        next_t += interval
    elapsed = time.perf_counter() - t0
    conn.close()
    commands: dict[str, dict[str, int]] = {}
    for entry, n in zip(mix, counts, strict=True):
        commands.setdefault(entry.group, {})[entry.command] = commands.get(entry.group, {}).get(entry.command, 0) + n
    return {
        "sent": sent,
        "elapsed_s": elapsed,
        "rate": sent / elapsed if elapsed else 0.0,
        "errors": errors,
        "batch": batch,
        "batches": batches,
        "resets_behind": behind,
        "last_error": conn.last_error,
        "unanswered": pending,
        "commands": commands,
    }


def write_spec(path: str | os.PathLike, groups: tuple, mix: tuple) -> None:
    """Store the groups (with their tables) and the mix for the load processes."""
    import pickle

    with open(path, "wb") as f:
        pickle.dump((tuple(groups), tuple(mix)), f)


def load_spec(path: str | os.PathLike) -> tuple[tuple, tuple]:
    """The (groups, mix) :func:`write_spec` stored (a file the harness itself wrote)."""
    import pickle

    with open(path, "rb") as f:
        return pickle.load(f)  # a file this harness run wrote in its own 0700 server dir


def _sum_commands(parts: list[dict]) -> dict[str, dict[str, int]] | None:
    out: dict[str, dict[str, int]] = {}
    for part in parts:
        for group, cmds in (part.get("commands") or {}).items():
            for cmd, n in cmds.items():
                out.setdefault(group, {})[cmd] = out.get(group, {}).get(cmd, 0) + n
    return out or None


class WriteLoad:
    """Context manager: the paced writer(s) as child processes (not in the server's cgroup); ``result`` after stop."""

    def __init__(
        self,
        port: int,
        keys: int,
        value_size: int,
        rate: float,
        seed: int = 1,
        *,
        distribution: Any = None,
        pattern: str = "repetitive",
        new_keys_fraction: float = 0.0,
        procs: int | None = None,
        spec_path: str | os.PathLike | None = None,
    ) -> None:
        self.rate = float(rate)
        self.procs = procs or processes_for(self.rate, value_size)
        dist_json = json.dumps(distribution.model_dump(mode="json")) if distribution is not None else ""
        self.arg_sets = []
        for i in range(self.procs):
            shape = ["--spec", str(spec_path)] if spec_path else ["--keys", str(keys), "--value-size", str(value_size)]
            args = [
                sys.executable,
                "-m",
                "sim.harness.loadgen",
                "--port",
                str(port),
                *shape,
                "--rate",
                str(self.rate / self.procs),
                "--seed",
                str(seed + 1000 * i),
                "--pattern",
                pattern,
                "--index",
                str(i),
                "--procs",
                str(self.procs),
                "--new-keys-fraction",
                str(new_keys_fraction),
                PARENT_FLAG,
                str(os.getpid()),
            ]
            if dist_json:
                args += ["--distribution", dist_json]
            self.arg_sets.append(args)
        self.args = self.arg_sets[0] if self.arg_sets else []
        self.result: dict | None = None
        self._procs: list[subprocess.Popen] = []
        self._token: int | None = None

    def __enter__(self) -> WriteLoad:
        return self.start()

    def start(self) -> WriteLoad:
        """Start the writer processes (none for a zero rate)."""
        if self.rate <= 0 or self._procs:
            return self
        self._token = registry.register(self._kill, name="write load")
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        for args in self.arg_sets:
            self._procs.append(
                subprocess.Popen(
                    args, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT, start_new_session=True
                )
            )
        return self

    def alive(self) -> bool:
        """True while every writer runs."""
        return bool(self._procs) and all(p.poll() is None for p in self._procs)

    def stop(self) -> dict | None:
        """Ask the writers to stop and collect their counts (summed)."""
        if not self._procs:
            return self.result
        for p in self._procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        parts = []
        for p in self._procs:
            try:
                out, _ = p.communicate(timeout=30)
                if out and out.strip():
                    parts.append(json.loads(out.strip().splitlines()[-1]))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            except json.JSONDecodeError:
                pass
        self._procs = []
        if self._token is not None:
            registry.unregister(self._token)
            self._token = None
        if parts:
            elapsed = max(x["elapsed_s"] for x in parts)
            sent = sum(x["sent"] for x in parts)
            self.result = {
                "processes": len(parts),
                "sent": sent,
                "elapsed_s": elapsed,
                "rate": sent / elapsed if elapsed else 0.0,
                "errors": sum(x["errors"] for x in parts),
                "batch": parts[0]["batch"],
                "resets_behind": sum(x.get("resets_behind", 0) for x in parts),
                "last_error": next((x.get("last_error") for x in parts if x.get("last_error")), None),
                "commands": _sum_commands(parts),
            }
        return self.result

    def _kill(self) -> None:
        for p in self._procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        self._procs = []

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.stop()
        elif self._token is not None:
            token, self._token = self._token, None
            registry.run(token)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--keys", type=int, default=0)
    ap.add_argument("--value-size", type=int, default=0)
    ap.add_argument("--spec", default="", help="typed groups and write mix (a file the harness wrote)")
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--distribution", default="", help='scenario key distribution as JSON, e.g. {"zipf": 0.99}')
    ap.add_argument("--pattern", choices=("random", "repetitive"), default="repetitive")
    ap.add_argument("--new-keys-fraction", type=float, default=0.0)
    ap.add_argument("--index", type=int, default=0)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument(PARENT_FLAG, type=int, required=True, help="the harness process; the writer dies with it")
    a = ap.parse_args(argv)
    die_with_parent(a.parent)
    if a.spec:
        print(json.dumps(run_typed(a.port, a.spec, a.rate, a.seed, a.index, a.procs)), flush=True)
        return
    dist = distribution_from_json(a.distribution)
    print(
        json.dumps(
            run(
                a.port,
                a.keys,
                a.value_size,
                a.rate,
                a.seed,
                a.host,
                dist,
                a.pattern,
                a.new_keys_fraction,
                a.index,
                a.procs,
            )
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
