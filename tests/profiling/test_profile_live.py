"""``rbsim profile redis://...`` against real redis-servers started here, plus its helpers.

One server holds 20,000 keys of 500-byte values and takes a paced load of ~2,000 SET/s for the whole
module; the profile must recover the key count exactly, the write rate within 10 % and the value size
within 15 %, must never print the password, and must add a self-check once the server has saved.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import threading
import time
from datetime import UTC
from pathlib import Path

import pytest
import yaml

from sim import units
from sim.profiling import commands, writer, yamltext
from sim.profiling.cli import main, register
from sim.profiling.live import redact_url, scrub, secrets_in
from sim.scenario import load_scenario, parse_scenario

REDIS_SERVER = "/usr/bin/redis-server"
PASSWORD = "Pr0file-s3cret-xyz"
KEYS = 20_000
VALUE_SIZE = 500
WRITE_RATE = 2_000.0
WINDOW = "2s"

needs_redis = pytest.mark.skipif(shutil.which(REDIS_SERVER) is None, reason="redis-server is not installed")


# --- helpers that need no server ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,kind",
    [
        ("set", "write"),
        ("cmdstat_hset", "write"),
        ("UNLINK", "write"),
        ("xadd", "write"),
        ("getdel", "write"),
        ("get", "read"),
        ("cmdstat_hgetall", "read"),
        ("scan", "read"),
        ("zrange", "read"),
        ("lrange", "read"),
        ("info", "ignored"),
        ("cmdstat_config|get", "ignored"),
        ("client|setinfo", "ignored"),
        ("ping", "ignored"),
        ("slowlog", "ignored"),
        ("made.up", "unknown"),
    ],
)
def test_commands_are_classified(name, kind):
    assert commands.classify(name) == kind


def test_rates_subtract_the_profilers_own_calls():
    before = {
        "cmdstat_set": {"calls": 100},
        "cmdstat_get": {"calls": 50},
        "cmdstat_scan": {"calls": 1},
        "cmdstat_info": {"calls": 9},
        "cmdstat_config|get": {"calls": 1},
    }
    after = {
        "cmdstat_set": {"calls": 2100},
        "cmdstat_get": {"calls": 1050},
        "cmdstat_scan": {"calls": 12},
        "cmdstat_info": {"calls": 10},
        "cmdstat_config|get": {"calls": 6},
        "cmdstat_json.foo": {"calls": 21},
    }
    r = commands.rates(before, after, 2.0, own={"scan": 11})
    assert r.writes_per_sec == pytest.approx(1000) and r.reads_per_sec == pytest.approx(500)
    assert r.unknown == {"json.foo": pytest.approx(10.5)}


@pytest.mark.parametrize(
    "url,shown",
    [
        ("redis://:hunter2@db:6379/0", "redis://***@db:6379/0"),
        ("rediss://app:p%40ss@db.example:6380", "rediss://***@db.example:6380"),
        ("redis://db:6379?password=hunter2&ssl_cert_reqs=none", "redis://db:6379?password=***&ssl_cert_reqs=none"),
        ("redis://localhost:6379", "redis://localhost:6379"),
    ],
)
def test_urls_are_redacted(url, shown):
    assert redact_url(url) == shown
    for secret in secrets_in(url):
        assert secret not in redact_url(url)
    assert (
        "p@ss" in secrets_in("rediss://app:p%40ss@db:1")
        and scrub("x p@ss y", secrets_in("rediss://app:p%40ss@db:1")) == "x *** y"
    )


@pytest.mark.parametrize("value", [0, 0.5, 1, 7.25, 999, 999.6, 1000, 1999.7, 18_333, 999_960, 2.5e6, 7.3e9])
def test_rates_and_counts_round_trip_through_units(value):
    assert units.parse_rate(yamltext.format_rate(value)) == pytest.approx(value, rel=0.005)
    assert units.parse_count(yamltext.format_count(value, 4)) == pytest.approx(round(value), rel=0.0005, abs=0.5)


@pytest.mark.parametrize("size", [0, 1, 500, 999, 1000, 1020, 4096, 999_960, 14_037_181_030, 2**30, 25_276_063_744])
def test_sizes_round_trip_through_units(size):
    assert units.parse_size(yamltext.format_size(size)) == pytest.approx(size, rel=0.005, abs=0.5)
    assert units.parse_size(yamltext.format_memory(size)) == pytest.approx(size, rel=0.0005)
    if size % 2**20 == 0 and size:
        assert units.parse_size(yamltext.format_memory(size)) == size


def test_rendered_yaml_reads_back_as_the_same_data():
    items = [
        yamltext.Item("name", "x", "a comment"),
        yamltext.Item(
            "engine",
            children=[
                yamltext.Item("version", "7.0", above=["quoted: 7.0 would read as a float"]),
                yamltext.Item("start", "15:30"),
            ],
        ),
        yamltext.Item("list", [yamltext.format_rate(3), yamltext.format_rate(3000)]),
    ]
    text = yamltext.render(items, header=["top"], footer=["bottom"])
    assert yaml.safe_load(text) == {"name": "x", "engine": {"version": "7.0", "start": "15:30"}, "list": [3, "3k"]}
    assert text.startswith("# top\n") and text.rstrip().endswith("# bottom")


# --- a real server ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(tmp: Path, *extra: str):
    port = _free_port()
    proc = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
            "--daemonize",
            "no",
            "--requirepass",
            PASSWORD,
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, password=PASSWORD)
    for _ in range(200):
        try:
            client.ping()
            return proc, port, client
        except redis.ConnectionError:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {proc.returncode}") from None
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("redis-server did not answer PING")


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _load(client, keys: int, size: int) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(keys):
        pipe.set(f"key:{i:06d}", b"v" * size)
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()


class PacedWriter(threading.Thread):
    """SETs existing keys at ``rate`` per second (catching up in small pipelines) until stopped."""

    def __init__(self, client, rate: float):
        super().__init__(daemon=True)
        self.client, self.rate, self.sent = client, rate, 0
        self.stopped = threading.Event()

    def run(self):
        start = time.monotonic()
        while not self.stopped.is_set():
            due = int((time.monotonic() - start) * self.rate) - self.sent
            if due > 0:
                pipe = self.client.pipeline(transaction=False)
                for i in range(due):
                    pipe.set(f"key:{(self.sent + i) * 7919 % KEYS:06d}", b"w" * VALUE_SIZE)
                pipe.execute()
                self.sent += due
            time.sleep(0.005)


@pytest.fixture(scope="module")
def loaded_server(tmp_path_factory):
    if shutil.which(REDIS_SERVER) is None:
        pytest.skip("redis-server is not installed")
    proc, port, client = _start_server(tmp_path_factory.mktemp("redis"))
    load = None
    try:
        _load(client, KEYS, VALUE_SIZE)
        load = PacedWriter(type(client)(host="127.0.0.1", port=port, password=PASSWORD), WRITE_RATE)
        load.start()
        yield port, client
    finally:
        if load is not None:
            load.stopped.set()
            load.join(timeout=5)
        _stop(proc)


def _profile(capfd, *args) -> tuple[int, str, str]:
    code = main([*map(str, args)])
    out, err = capfd.readouterr()
    return code, out, err


def _url(port: int) -> str:
    return f"redis://:{PASSWORD}@127.0.0.1:{port}/0"


def test_profile_recovers_keys_rates_and_sizes(loaded_server, tmp_path, capfd):
    port, _ = loaded_server
    out_file = tmp_path / "profiled.yaml"
    code, out, err = _profile(
        capfd, _url(port), "--window", WINDOW, "-o", out_file, "--memory", "1GiB", "--platform", "lab"
    )
    assert code == 0, err
    text = out_file.read_text()
    scenario = load_scenario(out_file)
    assert scenario.dataset.keys == KEYS
    assert scenario.workload.writes_per_sec == pytest.approx(WRITE_RATE, rel=0.10)
    assert scenario.dataset.value_size == pytest.approx(VALUE_SIZE, rel=0.15)
    assert scenario.dataset.key_size == len("key:000000")
    assert scenario.node.memory == 2**30 and scenario.platform == "lab"
    assert scenario.engine.name == "redis" and scenario.engine.version == "7.0.15"
    assert scenario.engine.allocator == "jemalloc" and scenario.backup.compression is True
    assert scenario.workload.reads_per_sec < 50  # the profiler's own SCAN/TYPE/STRLEN are not counted
    assert "INFO commandstats over" in text and "mean STRLEN of" in text and "sampled with SCAN" in text
    assert "self-check" not in out + err + text  # the server has never forked yet
    for where in (text, out, err):
        assert PASSWORD not in where
    assert f"redis://***@127.0.0.1:{port}/0" in text


def test_printed_yaml_round_trips_and_defaults_the_node_to_system_memory(loaded_server, capfd):
    port, client = loaded_server
    code, out, err = _profile(capfd, _url(port), "--window", "0.5s", "--sample-keys", 200)
    assert code == 0, err
    scenario = parse_scenario(out)
    assert scenario.node.memory == pytest.approx(client.info("memory")["total_system_memory"], rel=0.001)
    assert "guess: INFO memory total_system_memory" in out
    data = yaml.safe_load(out)
    assert units.parse_rate(data["workload"]["writes_per_sec"]) == scenario.workload.writes_per_sec
    assert units.parse_size(data["dataset"]["value_size"]) == scenario.dataset.value_size
    assert "200 keys sampled" in out or "201 keys sampled" in out
    assert PASSWORD not in out + err


def test_python_entry_point_returns_the_scenario_text_and_report(loaded_server):
    """`sim.profile` is what the command runs: a validated scenario, its YAML and the report, scrubbed."""
    import sim

    port, _ = loaded_server
    taken = sim.profile(_url(port), window=0.5, sample_keys=300, memory=2**30, platform="lab")
    assert taken.scenario.dataset.keys == KEYS and taken.scenario.node.memory == 2**30
    assert parse_scenario(taken.text).dataset.keys == KEYS
    assert taken.report[0].startswith(f"profiled redis://***@127.0.0.1:{port}/0: 20,000 keys")
    assert PASSWORD not in taken.text + "".join(taken.report)
    with pytest.raises(sim.ProfileError, match="sample-keys") as info:
        sim.profile(_url(port), sample_keys=-1)
    assert isinstance(info.value, sim.RbsimError)


def test_self_check_after_a_bgsave(loaded_server, tmp_path, capfd):
    port, client = loaded_server
    client.bgsave()
    deadline = time.monotonic() + 10
    while client.info("persistence")["rdb_bgsave_in_progress"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.info("stats")["latest_fork_usec"] > 0
    out_file = tmp_path / "checked.yaml"
    code, out, err = _profile(
        capfd, _url(port), "--window", "1s", "-o", out_file, "--memory", "1GiB", "--platform", "lab"
    )
    assert code == 0, err
    assert "self-check" in out and "fork stall" in out and "copy-on-write" in out and "predicted/server" in out
    assert "under the load of its own time" in out
    assert ("copy-on-write error" in out) == (client.info("persistence")["rdb_last_cow_size"] > 0)
    text = out_file.read_text()
    assert "# self-check" in text and "latest_fork_usec" in text
    load_scenario(out_file)
    assert PASSWORD not in out + err + text


def test_blocked_commands_are_skipped_with_a_note(tmp_path, capfd):
    if shutil.which(REDIS_SERVER) is None:
        pytest.skip("redis-server is not installed")
    proc, port, client = _start_server(
        tmp_path, "--rename-command", "CONFIG", "", "--rename-command", "MEMORY", "", "--maxmemory", "64mb"
    )
    try:
        _load(client, 1000, 100)
        code, out, err = _profile(capfd, _url(port), "--window", "0.3s")
    finally:
        _stop(proc)
    assert code == 0, err
    scenario = parse_scenario(out)
    assert "CONFIG GET is not available" in out + err and "MEMORY USAGE is not available" in out + err
    assert scenario.node.memory == 64 * 2**20 and "guess: the server's maxmemory" in out
    assert scenario.dataset.keys == 1000 and scenario.dataset.value_size == 100


def test_wrong_password_and_unreachable_server_are_one_line_errors(loaded_server, capfd):
    port, _ = loaded_server
    code, out, err = _profile(capfd, f"redis://:wrong-{PASSWORD}@127.0.0.1:{port}/0", "--window", "0.1s")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert PASSWORD not in err and "***@127.0.0.1" in err
    code, out, err = _profile(capfd, f"redis://:{PASSWORD}@127.0.0.1:{_free_port()}/0", "--window", "0.1s")
    assert code == 2 and "cannot reach redis://***@127.0.0.1" in err and PASSWORD not in err


def test_register_adds_profile_to_a_subparsers_object():
    parser = argparse.ArgumentParser(prog="rbsim")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["profile", "elasticache://x", "--region", "eu-west-1", "--node-type", "cache.r6g.large"])
    assert args.command == "profile" and callable(args.handler) and args.region == "eu-west-1"
    with pytest.raises(SystemExit):
        parser.parse_args(["profile", "redis://h:1", "--node-type", "cache.r6g.large", "--memory", "1GiB"])


def test_tls_server_with_the_password_from_rediscli_auth(tmp_path, capfd, monkeypatch):
    if shutil.which(REDIS_SERVER) is None or shutil.which("openssl") is None:
        pytest.skip("redis-server or openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            cert,
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    proc = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            tmp_path,
            "--tls-cert-file",
            cert,
            "--tls-key-file",
            key,
            "--tls-ca-cert-file",
            cert,
            "--tls-auth-clients",
            "no",
            "--requirepass",
            PASSWORD,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port, password=PASSWORD, ssl=True, ssl_ca_certs=str(cert))
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        _load(client, 300, 64)
        monkeypatch.setenv("REDISCLI_AUTH", PASSWORD)
        code, out, err = _profile(capfd, f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}", "--window", "0.3s")
    finally:
        _stop(proc)
    assert code == 0, err
    scenario = parse_scenario(out)
    assert scenario.dataset.keys == 300 and scenario.dataset.value_size == 64
    assert f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}" in out and PASSWORD not in out + err


def _synthetic(info: dict, records=()):
    from datetime import datetime

    from sim.profiling.keysample import KeySample
    from sim.profiling.live import LiveProfile

    base = {
        "redis_version": "7.2.4",
        "mem_allocator": "jemalloc-5.3.0",
        "used_memory": 50_000_000,
        "db0": {"keys": 100_000, "expires": 0},
        "role": "master",
        "cmdstat_set": {"calls": 0},
    }
    after = {**base, **info, "cmdstat_set": {"calls": 5000}}
    rates = commands.rates(base, after, 10.0)
    return LiveProfile("redis://h:1", datetime.now(UTC), base, after, rates, KeySample(list(records)))


def test_engine_and_allocator_come_from_info():
    valkey = _synthetic({"valkey_version": "8.0.1", "server_name": "valkey", "mem_allocator": "libc"})
    assert (valkey.engine_name, valkey.engine_version, valkey.allocator) == ("valkey", "8.0.1", "libc")
    redis_ = _synthetic({"redis_version": "6.2.14-rc1", "mem_allocator": "tcmalloc-2.0"})
    assert (redis_.engine_name, redis_.engine_version, redis_.allocator) == ("redis", "6.2", None)


def test_without_a_key_sample_the_dataset_uses_used_memory():
    profile = _synthetic({"maxmemory": 14_037_181_030, "role": "slave"})
    document = writer.live_document(profile)
    scenario, dropped = writer.validate(document)
    assert dropped == [] and scenario.dataset.used_memory == pytest.approx(50_000_000, rel=0.001)
    assert scenario.dataset.keys == 100_000 and scenario.workload.writes_per_sec == 500
    assert scenario.backup.source == "replica" and "cache.r6g.large" in document.text()


def test_a_node_memory_is_required_when_info_has_none():
    from sim.profiling import ProfileError
    from sim.profiling.keysample import KeyRecord

    string = KeyRecord(b"k:1", "string", "embstr", elements=1, element_sizes=[10])
    with pytest.raises(ProfileError, match="pass --node-type or --memory"):
        writer.live_document(_synthetic({}, [string]))
    scenario, _ = writer.validate(writer.live_document(_synthetic({}, [string]), node_type="cache.m2.xlarge"))
    assert scenario.node.type == "cache.m2.xlarge" and scenario.platform == "xen-pv"


def test_only_passwords_are_scrubbed_from_messages():
    secrets = secrets_in("redis://default:Very-Secret-1@db:6379")
    assert secrets == ["Very-Secret-1"]
    assert scrub("ElastiCache's default 25%; Very-Secret-1", secrets) == "ElastiCache's default 25%; ***"
