"""Typed key groups on a real redis-server: the fill holds what the groups say, the mix sends what it says.

Needs /usr/bin/redis-server (the run test also root and a memory cgroup); skipped with the reason otherwise.
About 25 s.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time

import numpy as np
import pytest
from scipy import stats

from sim.harness.cgroup import find_rbsim_cgroups
from sim.harness.cleanup import owner_pid
from sim.harness.fill import FillError
from sim.harness.groups import EngineConfig, MixSpec, Payloads, TypedDataset, group_spec, typed_dataset
from sim.harness.loadgen import WriteLoad, write_spec
from sim.harness.resp import RespConnection
from sim.harness.run import check_environment, execute, plan_run
from sim.harness.server import DEFAULT_BINARY, RedisServer, server_version
from sim.harness.typedfill import fill_groups
from sim.scenario import Zipf, parse_scenario

pytestmark = pytest.mark.harness
try:
    server_version(DEFAULT_BINARY)
    _no_server = None
except Exception as exc:  # noqa: BLE001 - any reason not to run is printed and skips
    _no_server = str(exc)
_no_cgroup = check_environment(DEFAULT_BINARY)
needs_server = pytest.mark.skipif(_no_server is not None, reason=f"no redis-server: {_no_server}")
needs_container = pytest.mark.skipif(_no_cgroup is not None, reason=f"harness: {_no_cgroup}")
if _no_cgroup:
    print(f"skipping typed harness run test: {_no_cgroup}", file=sys.stderr)

LEN = {"hash": "hlen", "set": "scard", "zset": "zcard", "list": "llen"}


def _ours_running() -> list[int]:
    tag = f"rbsim-redis-{os.getpid()}-".encode()
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    if tag in f.read():
                        pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.fixture(autouse=True)
def nothing_left_behind():
    yield
    assert _ours_running() == []
    if _no_cgroup is None:
        assert [p for p in find_rbsim_cgroups() if owner_pid(p.name) == os.getpid()] == []


def total_writes(client) -> int:
    """Calls of every command but the ones this test and redis-py send to look."""
    looks = ("cmdstat_info", "cmdstat_hello", "cmdstat_ping", "cmdstat_config|set", "cmdstat_object|encoding")
    return sum(v["calls"] for k, v in client.info("commandstats").items() if k not in looks)


def expired(client) -> int:
    """Keys the server has expired so far."""
    return int(client.info("stats")["expired_keys"])


def small_groups() -> tuple:
    return (
        group_spec("s", "string", 3000, 1, 100, ttl_share=0.4, ttl_mean_s=3600),
        group_spec("c", "string", 1000, 1, 8, integers=True),
        group_spec("h", "hash", 1000, 20, 32, ttl_share=0.1, ttl_mean_s=600),
        group_spec("big", "hash", 100, 200, 32),  # past hash-max-listpack-entries 128
        group_spec("st", "set", 500, 40, 12),
        group_spec("si", "set", 500, 40, 8, integers=True),
        group_spec("z", "zset", 500, 60, 20, distribution=Zipf(zipf=0.99), clustered=True),
        group_spec("l", "list", 200, 150, 50),
    )


# -- no server needed ---------------------------------------------------------------------------------


def test_members_are_the_same_bytes_in_every_process():
    g = group_spec("z", "zset", 100, 5, 40)
    a, b = Payloads(seed=1), Payloads(seed=99)
    assert a.member(g, 7, 3) == b.member(g, 7, 3) and len(a.member(g, 7, 3)) == g.size(7, 3) == 40
    assert a.member(g, 7, 3) != a.member(g, 7, 4)
    assert Payloads.field(group_spec("h", "hash", 1, 1, 1, field_size=10), 42) == b"f000000042"


def test_a_mix_entry_the_type_has_not_is_refused_by_name():
    with pytest.raises(ValueError, match="group l \\(list\\): command HSET is not one of LPUSH"):
        TypedDataset((group_spec("l", "list", 10, 3, 8),), (MixSpec("l", "HSET", 1.0),))
    with pytest.raises(ValueError, match="no such group"):
        TypedDataset((group_spec("l", "list", 10, 3, 8),), (MixSpec("q", "LPUSH", 1.0),))


def test_bulk_replies_are_skipped_whole_even_split_across_reads():
    a, b = socket.socketpair()
    conn = RespConnection.__new__(RespConnection)
    conn.sock, conn._pending, conn._partial, conn.last_error = a, b"", (0, 0), None
    body = b"x\r\n" * 10  # a body holding CRLFs must not count as replies
    replies = b":1\r\n$30\r\n" + body + b"\r\n$-1\r\n-ERR no\r\n+OK\r\n"

    def send():
        for k in range(0, len(replies), 7):  # trickled in 7-byte pieces
            b.sendall(replies[k : k + 7])
            time.sleep(0.001)

    t = threading.Thread(target=send)
    t.start()
    assert conn.read_replies(5) == 1 and conn.last_error == "-ERR no"
    t.join()
    a.close()
    b.close()


# -- a real server --------------------------------------------------------------------------------------


@needs_server
def test_fill_holds_what_the_groups_say():
    groups = small_groups()
    with RedisServer(None) as server:
        done, _ = fill_groups(server, groups, EngineConfig((("hash-max-listpack-entries", "128"),)))
        c = server.client()
        for g, fill in zip(groups, done, strict=True):
            assert fill.keys == g.keys and fill.elements == int(g.counts.sum()) and fill.used_memory_delta > 0
            pipe = c.pipeline(transaction=False)
            for i in range(g.keys):
                pipe.type(g.key(i))
                if g.type in LEN:
                    pipe.execute_command(LEN[g.type].upper(), g.key(i))
                pipe.ttl(g.key(i))
            replies = pipe.execute()
            step = 3 if g.type in LEN else 2
            types = replies[0::step]
            assert set(types) == {g.type.encode()}, g.name
            if g.type in LEN:
                assert replies[1::step] == [g.count(i) for i in range(g.keys)], g.name
            with_ttl = sum(1 for t in replies[step - 1 :: step] if t > 0)
            assert with_ttl == fill.keys_with_ttl
            # the share of keys with a TTL is the group's (a two-sided binomial test at 0.1 %)
            assert stats.binomtest(with_ttl, g.keys, g.ttl_share).pvalue > 1e-3 if g.ttl_share else with_ttl == 0
        enc = {f.name: f.encodings for f in done}
        # Redis 7.0 encodings, as documented (redis.io/docs/management/optimization/memory-optimization):
        assert enc["h"] == {"listpack": 200} and enc["big"] == {"hashtable": 100}
        assert enc["si"] == {"intset": 200} and enc["c"] == {"int": 200} and enc["s"] == {"raw": 200}
        assert enc["z"] == {"listpack": 200} and enc["l"] == {"quicklist": 200}
        assert c.hget("h:3", "f000000000") is not None and len(c.hget("h:3", "f000000000")) == 32


@needs_server
def test_engine_parameters_change_the_encoding_and_eviction_policy():
    hashes = group_spec("h", "hash", 2000, 20, 32)
    with RedisServer(None, maxmemory=3 << 20) as server:
        done, _ = fill_groups(server, (hashes,), EngineConfig((("hash-max-listpack-entries", "16"),), "allkeys-lru"))
        assert set(done[0].encodings) == {"hashtable", "none"}  # 20 fields > 16: no listpack; none: evicted
        info = server.info("stats")
        assert info["evicted_keys"] > 0 and server.client().dbsize() < 2000
        with pytest.raises(FillError, match="group h: the server refused"):
            fill_groups(server, (hashes,), EngineConfig((), "noeviction"))
        with pytest.raises(FillError, match="engine.parameters.hash-max-listpack-entries"):
            fill_groups(server, (hashes,), EngineConfig((("hash-max-listpack-entries", "lots"),)))


@needs_server
def test_the_mix_is_paced_and_every_command_counted(tmp_path):
    groups = small_groups()
    mix = (
        MixSpec("s", "SET", 0.3),
        MixSpec("c", "INCR", 0.1),
        MixSpec("h", "HSET", 0.15),
        MixSpec("st", "SADD", 0.05),
        MixSpec("st", "SREM", 0.05),
        MixSpec("z", "ZADD", 0.1),
        MixSpec("z", "ZINCRBY", 0.05),
        MixSpec("l", "LPUSH", 0.08),
        MixSpec("l", "RPOP", 0.08),
        MixSpec("s", "NEW", 0.02),
        MixSpec("h", "EXPIRE", 0.02),
    )
    typed = TypedDataset(groups, mix)
    rate = 4000.0
    with RedisServer(None) as server:
        fill_groups(server, groups, typed.engine)
        c = server.client()
        before = {k: v["calls"] for k, v in c.info("commandstats").items()}
        spec = tmp_path / "spec.pickle"
        write_spec(spec, groups, mix)
        with WriteLoad(
            server.listening_port, typed.keys, 64, rate, procs=2, spec_path=spec
        ) as load:  # killed on failure
            time.sleep(1.0)  # both writers up
            t1, calls1 = time.monotonic(), total_writes(c)
            time.sleep(1.5)
            t2, calls2 = time.monotonic(), total_writes(c)
            result = load.stop()
        after = {k: v["calls"] for k, v in c.info("commandstats").items()}
        assert result is not None and result["errors"] == 0
        # the pace the server sees, as the harness measures its served rate
        assert (calls2 - calls1) / (t2 - t1) == pytest.approx(rate, rel=0.05)
        sent = result["commands"]
        assert sum(n for cmds in sent.values() for n in cmds.values()) == result["sent"]
        # what the server counted, command by command, is what the writers say they sent
        served = {k.removeprefix("cmdstat_"): after[k] - before.get(k, 0) for k in after}
        by_command: dict[str, int] = {}
        for m in mix:
            name = "set" if m.command == "NEW" else m.command.lower()
            by_command[name] = by_command.get(name, 0) + sent[m.group][m.command]
        for name, n in by_command.items():
            assert served[name] == n, name
        # each entry's share of the writes is its share of the mix (binomial, 0.1 %)
        for m in mix:
            assert stats.binomtest(sent[m.group][m.command], result["sent"], m.share).pvalue > 1e-3, m
        assert result["processes"] == 2
        # NEW made keys past the fill, the two writers' interleaved (one even, one odd), never the same one
        assert c.exists(f"s:{groups[0].keys}") and c.exists(f"s:{groups[0].keys + 1}")
        assert c.dbsize() == typed.keys + sent["s"]["NEW"] - expired(c)


def test_clustered_hot_keys_are_the_first_ids_scattered_ones_are_spread():
    from sim.harness.loadgen import KeyStream

    ids = np.array(KeyStream(Zipf(zipf=1.2), 100_000, 1, clustered=True).take(20_000))
    spread = np.array(KeyStream(Zipf(zipf=1.2), 100_000, 1).take(20_000))
    # ranks 1..999 take ~half the writes; clustered they are ids 1..999, scattered they are spread over all ids
    # (rank 0 is id 0 either way)
    assert np.mean((ids > 0) & (ids < 1000)) > 0.4
    assert np.mean((spread > 0) & (spread < 1000)) < 0.05


TYPED_RUN = """\
name: t-typed
platform: lab
engine: {parameters: {maxmemory-policy: allkeys-lru, hash-max-listpack-entries: 128}}
node: {memory: 256MiB}
dataset:
  groups:
    - {name: sessions, type: hash, keys: 20k, elements: 20, element_size: 64B, ttl: {share: 50%, mean: 1min}}
    - {name: queue, type: list, keys: 100, elements: 500, element_size: 100B}
workload:
  writes_per_sec: 3k
  mix:
    - {group: sessions, command: HSET, share: 80%}
    - {group: queue, command: LPUSH, share: 10%}
    - {group: queue, command: RPOP, share: 10%}
"""


def test_a_scenario_becomes_what_the_harness_writes():
    shorthand = "name: s\nplatform: lab\nnode: {memory: 1GiB}\ndataset: {keys: 1k, value_size: 100B}\n"
    assert typed_dataset(parse_scenario(shorthand)) is None  # DEBUG POPULATE / pipelined SETs as before
    mixed = typed_dataset(parse_scenario(shorthand + "workload: {mix: [{group: strings, command: APPEND, share: 1}]}"))
    assert mixed is not None and mixed.groups[0].key(7) == b"key:7" and mixed.mix[0].command == "APPEND"
    typed = typed_dataset(parse_scenario(TYPED_RUN))
    assert typed is not None and [g.name for g in typed.groups] == ["sessions", "queue"]
    sessions = typed.groups[0]
    assert sessions.key(7) == b"sessions:7" and sessions.ttl_share == 0.5 and sessions.ttl_mean_s == 60
    assert set(sessions.counts.tolist()) == {20} and set(sessions.sizes.tolist()) == {64}
    assert typed.engine.maxmemory_policy == "allkeys-lru"
    assert ("hash-max-listpack-entries", "128") in typed.engine.settings
    assert typed.write_commands() == ("hset", "lpush", "rpop")


@needs_container
def test_a_typed_run_records_groups_commands_and_expiry(tmp_path):
    scenario = parse_scenario(TYPED_RUN)
    record = execute(plan_run(scenario, "t-typed.yaml", TYPED_RUN), timeout=90, steady_s=1.0)
    json.dumps(record)
    m, fill, load = record["measured"], record["fill"], record["load"]
    assert m["outcome"] == "ok" and record["config"]["maxmemory_policy"] == "allkeys-lru"
    assert fill["method"] == "pipelined-typed" and [g["name"] for g in fill["groups"]] == ["sessions", "queue"]
    assert fill["groups"][0]["encodings"] == {"listpack": 200}
    assert sum(g["used_memory_delta"] for g in fill["groups"]) <= fill["used_memory"]
    assert load["served_writes_per_sec_during_save"] == pytest.approx(3000, rel=0.15)
    assert set(load["commands_sent"]) == {"sessions", "queue"}
    # 10k keys with a mean TTL of 60 s expire at ~170/s: the save sees some go
    assert m["expired_keys_after_save"] > m["expired_keys_before_save"] > 0
    assert m["evicted_keys_after_save"] == 0 and m["used_memory_end"] > 0
    assert any(r["write_calls"] for r in record["timeline"])


@needs_container
def test_typed_data_past_maxmemory_stops_the_run_with_one_clear_line(tmp_path, capsys):
    import argparse

    from sim.harness.cli import register

    path = tmp_path / "big.yaml"
    too_big = TYPED_RUN.replace("memory: 256MiB", "memory: 64MiB").replace("keys: 20k", "keys: 60k")  # ~110 MB
    path.write_text(too_big.replace("allkeys-lru", "noeviction"))
    parser = argparse.ArgumentParser(prog="rbsim")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["harness", str(path), "--out", str(tmp_path / "out"), "--quiet-wait", "0"])
    assert args.handler(args) == 1
    err = capsys.readouterr().err
    assert "big.yaml: group sessions: the server refused" in err and "maxmemory" in err
    assert "Traceback" not in err and not list((tmp_path / "out").glob("*.json"))
