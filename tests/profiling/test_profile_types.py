"""``rbsim profile`` on a real redis-server holding a typed mix: the key groups and the write mix it finds.

The server holds 30,000 keys made here (so every share is known): small session hashes (listpack, half
with a TTL), large profile hashes (hashtable: values over hash-max-listpack-value), leaderboard sorted
sets (skiplist), list queues, integer counters and cached strings (some with a TTL). The profile's auto
sample (5,000 keys) must find each group with its type, encoding, key share, element count, sizes and
TTL share; a known batch of commands driven during the window must come back as the write mix.
"""

from __future__ import annotations

import random
import shutil
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_profile_live import PASSWORD, REDIS_SERVER, _start_server, _stop, _synthetic, _url

from sim import units
from sim.profiling import groups as grouping
from sim.profiling import keysample, writer
from sim.profiling.cli import main
from sim.profiling.keysample import KeyRecord
from sim.profiling.live import profile_server
from sim.scenario import load_scenario

KEYS = 30_000
SHAPES = {
    # name: (share of keys, type, encoding, elements, element size range, ttl share)
    "session": (0.30, "hash", "listpack", 10, (10, 30), 0.5),
    "profile": (0.04, "hash", "hashtable", 150, (80, 80), 0.0),
    "board": (0.01, "zset", "skiplist", 300, None, 0.0),
    "queue": (0.01, "list", "quicklist", 50, (100, 100), 0.0),
    "counter": (0.20, "string", "int", 1, None, 0.0),
    "cache": (0.44, "string", "raw", 1, (100, 400), 24 / 44),
}
SESSION_TTL_S, CACHE_TTL_S = 1800, 3600
DRIVEN = {"hset": 600, "hincrby": 200, "zincrby": 100, "lpush": 100, "rpop": 100, "incr": 300, "set": 300}


def _shape(i: int) -> str:
    """The group of key ``i``: consecutive ranges of ``i % 100`` in SHAPES' order (30, 4, 1, 1, 20, 44)."""
    r, edge = i % 100, 0
    for name, (share, *_rest) in SHAPES.items():
        edge += round(100 * share)
        if r < edge:
            return name
    raise AssertionError(i)


def _fill(client) -> None:
    rnd = random.Random(7)
    pipe = client.pipeline(transaction=False)
    for i in range(KEYS):
        name = _shape(i)
        key = f"{name}:{i}"
        if name == "session":
            pipe.hset(key, mapping={f"f{j}": "s" * rnd.randint(10, 30) for j in range(10)})
            if i % 2:
                pipe.expire(key, SESSION_TTL_S)
        elif name == "profile":
            pipe.hset(key, mapping={f"field{j}": "p" * 80 for j in range(150)})
        elif name == "board":
            pipe.zadd(key, {f"player{j}": j for j in range(300)})
        elif name == "queue":
            pipe.rpush(key, *[b"q" * 100] * 50)
        elif name == "counter":
            pipe.set(key, rnd.randint(0, 10**9))
        else:
            pipe.set(key, "c" * rnd.randint(100, 400), ex=CACHE_TTL_S if i % 100 < 80 else None)
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()


def _drive(client) -> None:
    """The DRIVEN commands, each on existing keys of its group (no key is created or deleted)."""
    pipe = client.pipeline(transaction=False)
    for n in range(DRIVEN["hset"]):
        pipe.hset(f"session:{100 * (n % 300) + 2 * (n // 300)}", "f1", "z" * 20)
    for n in range(DRIVEN["hincrby"]):
        pipe.hincrby(f"session:{100 * n + 1}", "hits", 1)
    for n in range(DRIVEN["zincrby"]):
        pipe.zincrby(f"board:{100 * n + 34}", 1, "player1")
    for n in range(DRIVEN["lpush"]):
        pipe.lpush(f"queue:{100 * n + 35}", b"q" * 100)
        pipe.rpop(f"queue:{100 * n + 35}")
    for n in range(DRIVEN["incr"]):
        pipe.incr(f"counter:{100 * n + 36}")
    for n in range(DRIVEN["set"]):
        pipe.set(f"cache:{100 * n + 90}", "c" * 200)
    pipe.execute()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A mixed server profiled once with the auto sample while the DRIVEN commands run in its window."""
    if shutil.which(REDIS_SERVER) is None:
        pytest.skip("redis-server is not installed")
    proc, port, client = _start_server(tmp_path_factory.mktemp("redis"))
    try:
        _fill(client)
        profile = profile_server(_url(port), window=60, sleep=lambda _s: _drive(client))  # drives, never sleeps
        yield port, client, profile
    finally:
        _stop(proc)


def test_the_auto_sample_grows_with_the_keyspace():
    assert keysample.plan(500, None, None) == (500, keysample.MIN_SAMPLE_S)
    assert keysample.plan(30_000, None, None)[0] == 5000  # a type holding 1 % of the keys: >= 30 samples
    keys, seconds = keysample.plan(2_000_000, None, None)
    assert keys == 20_000 and seconds == 20.0  # 1 % of the keyspace, with a time cap to match
    assert keysample.plan(10**9, None, None) == (keysample.MAX_SAMPLE_KEYS, keysample.MAX_SAMPLE_S)
    assert keysample.plan(10**6, 200, 2.0) == (200, 2.0)


@pytest.mark.parametrize("flag,value", [("--sample-keys", "lots"), ("--sample-keys", "-3"), ("--sample-time", "soon")])
def test_bad_sample_options_are_one_line_errors(flag, value, capfd):
    code = main(["redis://127.0.0.1:1/0", flag, value])
    out, err = capfd.readouterr()
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and flag.lstrip("-") in err


def test_groups_match_what_was_written(mixed):
    _port, _client, profile = mixed
    sample = profile.sample
    assert sample.keys == 5000 and sample.stopped_by == "the 5000 key limit"
    # the 1 % types (zset, list): 50 samples expected, >= 30 with 99.8 %; >= 25 keeps the test from flaking
    assert min(Counter(r.type for r in sample.records).values()) >= 25
    groups, notes = grouping.find_groups(sample.records, profile.keys)
    assert notes == []
    found = {g.name: g for g in groups}
    assert set(found) == set(SHAPES)
    assert sum(g.keys for g in groups) == KEYS, [(g.name, g.samples, g.keys) for g in groups]
    for name, (share, kind, encoding, elements, sizes, ttl_share) in SHAPES.items():
        group = found[name]
        assert (group.type, group.prefix) == (kind, name)
        assert set(group.encodings) == {encoding}, (name, group.encodings)
        assert group.keys / KEYS == pytest.approx(share, abs=0.03 if share > 0.05 else 0.01), name
        assert group.ttl_share() == pytest.approx(ttl_share, abs=0.08), name
        if kind != "string":
            assert grouping.spread_mean(group.elements()) == pytest.approx(elements, abs=1.5), name
        if sizes is not None:
            low, high = sizes
            assert grouping.spread_mean(group.element_size()) == pytest.approx((low + high) / 2, rel=0.08), name
    assert found["counter"].integers and not found["cache"].integers
    assert found["cache"].ttl_seconds() == pytest.approx(CACHE_TTL_S, rel=0.02)  # all set at once: the longest
    assert found["session"].field_size() == pytest.approx(2)  # f0..f9
    assert found["profile"].field_size() == pytest.approx((10 * 6 + 90 * 7 + 50 * 8) / 150, abs=0.3)  # field0..149
    assert isinstance(found["cache"].element_size(), tuple)  # 100..400 B is spread: a histogram
    assert isinstance(found["profile"].element_size(), float)


def test_commandstats_become_the_write_mix(mixed):
    _port, _client, profile = mixed
    groups, _ = grouping.find_groups(profile.sample.records, profile.keys)
    assert profile.key_growth == 0
    mix, notes = grouping.write_mix(groups, profile.rates.per_command)
    assert notes == []
    seconds = profile.rates.seconds
    per = Counter()
    for entry in mix:
        per[entry.command] += entry.rate * seconds
    # no sampled hash holds only integers, so HINCRBY counts as HSET (the schema's HINCRBY needs values: integers)
    expected = {name.upper(): count for name, count in DRIVEN.items() if name != "hincrby"}
    expected["HSET"] += DRIVEN["hincrby"]
    assert per == pytest.approx(expected, rel=1e-6)
    rate = {(m.group, m.command): m.rate * seconds for m in mix}
    assert rate["counter", "INCR"] == pytest.approx(300) and rate["board", "ZINCRBY"] == pytest.approx(100)
    # HSET and SET are split over the groups of their type by key share (30:4 hashes, 20:44 strings)
    assert rate["session", "HSET"] / rate["profile", "HSET"] == pytest.approx(30 / 4, rel=0.3)
    assert rate["cache", "SET"] / rate["counter", "SET"] == pytest.approx(44 / 20, rel=0.2)


def test_the_document_has_typed_groups_and_the_mix(mixed):
    _port, _client, profile = mixed
    document = writer.live_document(profile, memory=2**30, platform="lab")
    data = document.data()["dataset"]
    assert "keys" not in data and "value_size" not in data
    names = [g["name"] for g in data["groups"]]
    assert set(names) == set(SHAPES) and names[0] == "cache"  # largest first
    session = next(g for g in data["groups"] if g["name"] == "session")
    assert (
        session["type"] == "hash"
        and session["elements"] == 10
        and units.parse_duration(session["ttl"]["mean"]) == pytest.approx(SESSION_TTL_S, rel=0.02)
    )
    counter = next(g for g in data["groups"] if g["name"] == "counter")
    assert counter["values"] == "integers" and "element_size" not in counter
    workload = document.data()["workload"]
    shares = [float(m["share"].rstrip("%")) for m in workload["mix"]]
    assert sum(shares) == pytest.approx(100, abs=1e-9) and "new_keys_fraction" not in workload
    assert "5000 keys sampled with SCAN (16.7% of 30,000)" in document.text()
    assert PASSWORD not in document.text()


def test_the_written_scenario_loads_and_the_self_check_runs(mixed, tmp_path, capfd):
    port, client, _ = mixed
    client.bgsave()
    deadline = time.monotonic() + 20
    while client.info("persistence")["rdb_bgsave_in_progress"] and time.monotonic() < deadline:
        time.sleep(0.05)
    out_file = tmp_path / "mixed.yaml"
    code = main([_url(port), "--window", "0.3s", "-o", str(out_file), "--memory", "1GiB", "--platform", "lab"])
    out, err = capfd.readouterr()
    assert code == 0, err
    scenario = load_scenario(out_file)
    found = {g.name: g for g in scenario.key_groups()}
    assert set(found) == set(SHAPES) and sum(g.keys for g in found.values()) == KEYS
    for name, (_share, kind, _encoding, elements, _sizes, ttl_share) in SHAPES.items():
        group = found[name]
        assert group.type == kind and group.elements.mean() == pytest.approx(elements, abs=1.5), name
        assert group.ttl_share == pytest.approx(ttl_share, abs=0.08), name
    assert found["counter"].values == "integers" and found["session"].ttl_mean_s == pytest.approx(
        SESSION_TTL_S, rel=0.02
    )
    config = client.config_get("*-max-listpack-*")
    parameters = scenario.engine_parameters()
    assert parameters.hash_max_listpack_entries == int(config["hash-max-listpack-entries"])
    assert parameters.maxmemory_policy == "noeviction"
    assert scenario.write_mix() == () or sum(m.share for m in scenario.write_mix()) == pytest.approx(1.0)
    # the self-check simulates the typed scenario (or says why this build cannot yet) beside the server's save
    assert "self-check" in out
    assert "copy-on-write error" in out
    assert PASSWORD not in out + err + out_file.read_text()


def test_servers_without_hrandfield_and_zrandmember_give_sizes_from_a_scan_page(tmp_path):
    """Redis before 6.2 has neither: the first HSCAN/ZSCAN page stands in, with a note."""
    if shutil.which(REDIS_SERVER) is None:
        pytest.skip("redis-server is not installed")
    renamed = ("--rename-command", "HRANDFIELD", "", "--rename-command", "ZRANDMEMBER", "")
    proc, port, client = _start_server(tmp_path, *renamed)
    try:
        for i in range(150):
            client.hset(f"h:{i}", mapping={f"field{j}": "v" * 33 for j in range(8)})
            client.zadd(f"z:{i}", {f"m{j:04d}": j for j in range(200)})  # skiplist: ZSCAN pages by COUNT
        profile = profile_server(_url(port), window=0.1)
    finally:
        _stop(proc)
    found = {g.name: g for g in grouping.find_groups(profile.sample.records, profile.keys)[0]}
    assert found["h"].element_size() == 33.0 and found["h"].field_size() == pytest.approx(6.0)
    assert found["z"].element_size() == 5.0 and found["z"].encodings == Counter(skiplist=150)
    assert any(n.startswith("HRANDFIELD is not available") and "HSCAN" in n for n in profile.notes)
    assert any(n.startswith("ZRANDMEMBER is not available") and "ZSCAN" in n for n in profile.notes)


def test_rare_encodings_and_unmodelled_types_are_folded_with_a_note():
    records = [KeyRecord(f"c:{i}".encode(), "string", "embstr", 1, [20]) for i in range(400)]
    records += [KeyRecord(b"c:x", "string", "int", 1, [3], integers=True)]  # a numeric value among cached strings
    records += [KeyRecord(f"s:{i}".encode(), "stream", "stream") for i in range(4)]
    groups, notes = grouping.find_groups(records, 10_000)
    assert [(g.name, g.samples, g.keys) for g in groups] == [("c", 401, 10_000)]
    assert "stream" in notes[0]
    mix, notes = grouping.write_mix(
        groups, {"set": 10.0, "incr": 5.0, "xadd": 2.0, "get": 50.0}, grouping.Turnover(1.0)
    )
    assert {(m.command, round(m.rate, 6)) for m in mix} == {("SET", 9.0), ("NEW", 1.0)}
    assert "INCR 5/s" in notes[0] and "XADD 2/s" in notes[0]


def test_hincrby_goes_to_integer_hashes_and_incr_to_counters():
    def group(name, kind, encoding, integers, n):
        return [KeyRecord(f"{name}:{i}".encode(), kind, encoding, 5, [4], integers=integers) for i in range(n)]

    records = group("stats", "hash", "listpack", True, 100) + group("sess", "hash", "listpack", False, 300)
    records += group("n", "string", "int", True, 100)
    groups, _ = grouping.find_groups(records, 5000)
    mix, notes = grouping.write_mix(groups, {"hincrby": 8.0, "hset": 4.0, "incr": 2.0, "expire": 5.0})
    rate = {(m.group, m.command): m.rate for m in mix}
    assert notes == [] and rate[("stats", "HINCRBY")] == 8.0 and rate[("n", "INCR")] == 2.0
    assert rate[("stats", "HSET")] == pytest.approx(1.0) and rate[("sess", "HSET")] == pytest.approx(3.0)
    assert sum(r for (_g, c), r in rate.items() if c == "EXPIRE") == pytest.approx(5.0)
    assert rate[("sess", "EXPIRE")] == pytest.approx(3.0)  # split by key share: 300 of 500


def test_a_leaderboard_of_numeric_member_ids_is_not_an_integer_group():
    """zset members that spell numbers are still strings (the schema has no integer zsets)."""
    records = [KeyRecord(f"lb:{i}".encode(), "zset", "skiplist", 500, [7, 6], integers=True) for i in range(50)]
    groups, _ = grouping.find_groups(records, 50)
    assert not groups[0].integers and grouping.spread_mean(groups[0].element_size()) == 6.5


def test_keys_created_are_growth_plus_removals_where_they_happen():
    """A TTL cache holding steady sets its expiring keys again: those SETs are NEW, in the group that expires."""
    cache = [KeyRecord(f"c:{i}".encode(), "string", "raw", 1, [100], ttl_ms=50_000) for i in range(300)]
    plain = [KeyRecord(f"p:{i}".encode(), "string", "raw", 1, [100]) for i in range(100)]
    groups, _ = grouping.find_groups(cache + plain, 4000)
    turnover = grouping.Turnover(growth=-2.0, expired=10.0)
    mix, notes = grouping.write_mix(groups, {"set": 40.0, "del": 4.0}, turnover)
    rate = {(m.group, m.command): m.rate for m in mix}
    assert notes == [] and sum(rate.values()) == pytest.approx(44.0)  # NEW comes out of the SETs
    # c: 10 expired + 3 DEL (its key share of 4) - 1.5 (its share of the shrinking) = 11.5 keys/s created
    assert rate["c", "NEW"] == pytest.approx(11.5) and rate["c", "SET"] == pytest.approx(30 - 11.5)
    assert rate["p", "NEW"] == pytest.approx(1 - 0.5) and rate["p", "DEL"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "values,fixed",
    [([10.0] * 20, True), ([10.0, 11.0, 12.0] * 10, True), ([10.0] * 10 + [300.0] * 10, False)],
)
def test_spread_is_a_mean_when_tight_and_a_mean_keeping_histogram_when_wide(values, fixed):
    got = grouping.spread(values)
    assert isinstance(got, float) == fixed
    assert grouping.spread_mean(got) == pytest.approx(sum(values) / len(values))
    if not fixed:
        assert sum(share for _, share in got) == pytest.approx(1.0)


@pytest.mark.parametrize("used,fragmentation", [(200_000_000, 1.15), (60 * 2**20, None)])
def test_fragmentation_is_measured_on_large_enough_data(used, fragmentation):
    """(rss - the platform's base RSS) / used_memory; small data is left to the platform's figure."""
    nitro_base = 8 * 2**20
    string = KeyRecord(b"k:1", "string", "raw", elements=1, element_sizes=[100])
    info = {"used_memory": used, "used_memory_rss": nitro_base + round(used * 1.15), "maxmemory": 2**31}
    scenario, _ = writer.validate(writer.live_document(_synthetic(info, [string]), platform="nitro"))
    assert scenario.dataset.fragmentation == (pytest.approx(fragmentation, abs=0.005) if fragmentation else None)


ENCODINGS = {
    "string": ["int", "embstr", "raw"],
    "hash": ["listpack", "ziplist", "hashtable"],
    "set": ["intset", "listpack", "hashtable"],
    "zset": ["listpack", "skiplist"],
    "list": ["quicklist", "listpack"],
    "stream": ["stream"],
}


@st.composite
def key_records(draw) -> KeyRecord:
    kind = draw(st.sampled_from(sorted(ENCODINGS)))
    count = 1 if kind == "string" else draw(st.integers(0, 5000))
    sizes = draw(st.lists(st.integers(0, 5000), max_size=5 if kind != "string" else 1, min_size=kind == "string"))
    return KeyRecord(
        f"{draw(st.sampled_from(['a', 'b', 'user', 'x.y', '']))}:{draw(st.integers(0, 10**6))}".encode(),
        kind,
        draw(st.sampled_from(ENCODINGS[kind])),
        elements=count if kind != "stream" else None,
        element_sizes=sizes if kind != "stream" else [],
        field_sizes=draw(st.lists(st.integers(0, 300), max_size=5)) if kind == "hash" else [],
        integers=draw(st.booleans()),
        ttl_ms=draw(st.none() | st.integers(0, 10**9)),
        memory=draw(st.none() | st.integers(1, 10**7)),
    )


@settings(max_examples=40, deadline=None)
@given(
    records=st.lists(key_records(), min_size=1, max_size=60),
    keys=st.integers(60, 10**8),
    calls=st.dictionaries(
        st.sampled_from(sorted(grouping.TYPED_COMMANDS) + ["del", "expire", "xadd"]), st.integers(0, 10**6)
    ),
    growth=st.integers(-(10**5), 10**5),
    expired=st.integers(0, 10**5),
)
def test_any_sample_becomes_a_scenario_that_validates(records, keys, calls, growth, expired):
    """Whatever mix of types, encodings, sizes, TTLs and commands (calls over a 10 s window) a server shows,
    the document validates."""
    from sim.profiling.commands import CommandRates

    info = {"db0": {"keys": keys, "expires": 0}, "maxmemory": 2**34}
    profile = _synthetic(info, records)
    rates = {name: count / 10 for name, count in calls.items()}
    profile.rates = CommandRates(10.0, sum(rates.values()), 0.0, rates)
    profile.before = {**profile.before, "db0": {"keys": keys - growth}, "expired_keys": 0}
    profile.after = {**profile.after, "expired_keys": expired}
    scenario, _ = writer.validate(writer.live_document(profile, platform="nitro"))
    groups = scenario.key_groups()
    assert sum(g.keys for g in groups) == keys or scenario.dataset.groups is None
    if scenario.workload.mix:
        assert sum(m.share for m in scenario.write_mix()) == pytest.approx(1.0)
