"""Profile a live Redis or Valkey server read-only (INFO over a window, a bounded SCAN sample, CONFIG GET
where allowed), keeping the URL's credentials out of every message."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from . import ProfileError, commands, keysample
from .commands import CommandRates
from .keysample import KeySample

if TYPE_CHECKING:
    from ..summary import Summary

DEFAULT_WINDOW_S = 10.0
CONFIG_KEYS = (
    "rdbcompression",
    "rdb-key-save-delay",
    "oom-score-adj",
    "save",
    "appendonly",
    "maxmemory-policy",
    "*-max-listpack-*",
    "*-max-ziplist-*",
    "set-max-intset-entries",
)
"""Settings read with CONFIG GET when the server allows it (ElastiCache does not): backup settings, the eviction
policy and the encoding thresholds (listpack names from Redis 7.0, ziplist names before)."""
COW_TARGET = 0.20
"""A profiled scenario should predict its node's own last copy-on-write within this relative error (issue 10)."""
MIN_SAVE_S_FOR_RATIO = 5
"""rdb_last_bgsave_time_sec is a difference of whole-second clocks: too coarse for a ratio below this."""
SECRET_QUERY_KEYS = ("password", "username")
SCHEMES = ("redis", "rediss", "unix")


def split_userinfo(url: str) -> tuple[str, str | None, str]:
    """``(scheme://, user:password or None, host...)`` by plain string search, never by URL parsing.

    A password may hold ``#``, ``/`` or ``?`` (ElastiCache AUTH tokens may), which a URL parser takes for
    the fragment, path or query, leaving the password in what it calls the host; so the userinfo is
    everything between ``://`` and the last ``@``.
    """
    head, sep, tail = url.partition("://")
    if not sep or "@" not in tail:
        return head + sep, None, tail
    userinfo, rest = tail.rsplit("@", 1)
    return head + sep, userinfo, rest


def redact_url(url: str) -> str:
    """``url`` without credentials: ``redis://***@host:port/db``; password-like query values become ``***``."""
    prefix, userinfo, rest = split_userinfo(url)
    parts = urlsplit(prefix + rest)
    netloc = ("***@" if userinfo is not None else "") + parts.netloc
    pieces = []
    for piece in parts.query.split("&") if parts.query else []:
        key = unquote(piece.split("=", 1)[0])
        pieces.append(f"{piece.split('=', 1)[0]}=***" if key.lower() in SECRET_QUERY_KEYS else piece)
    query = "&".join(pieces)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def parseable_url(url: str) -> str:
    """``url`` with ``#``, ``/``, ``?`` and ``@`` in its userinfo percent-encoded, so a URL parser finds the host."""
    prefix, userinfo, rest = split_userinfo(url)
    if userinfo is None:
        return url
    for char, code in (("#", "%23"), ("/", "%2F"), ("?", "%3F"), ("@", "%40")):
        userinfo = userinfo.replace(char, code)
    return f"{prefix}{userinfo}@{rest}"


def secrets_in(url: str) -> list[str]:
    """Every spelling of the URL's password (raw, percent-encoded and decoded), longest first, for scrubbing output."""
    prefix, userinfo, rest = split_userinfo(url)
    found = set()
    if userinfo is not None:
        secret = userinfo.split(":", 1)[1] if ":" in userinfo else userinfo  # a lone userinfo may be a password
        encoded = parseable_url(f"x://{secret}@h").removeprefix("x://").removesuffix("@h")
        found |= {secret, unquote(secret), encoded}
    for key, value in parse_qsl(urlsplit(prefix + rest).query, keep_blank_values=True):
        if key.lower() == "password":
            found.add(value)
    if os.environ.get("REDISCLI_AUTH"):
        found.add(os.environ["REDISCLI_AUTH"])
    return sorted((s for s in found if len(s) >= 3), key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def connect(url: str, db: int | None = None, timeout: float = 10.0):
    """A redis-py client for ``url`` (optionally another ``db``); ``REDISCLI_AUTH`` supplies a missing password."""
    import redis
    from redis.connection import ConnectionPool, parse_url

    if urlsplit(redact_url(url)).scheme not in SCHEMES:
        raise ProfileError(
            f"{redact_url(url)}: expected redis://[user:pass@]host:port[/db], rediss://... (TLS) or elasticache://ID"
        )
    try:
        options = parse_url(parseable_url(url))
    except ValueError as exc:
        raise ProfileError(f"{redact_url(url)}: {scrub(str(exc), secrets_in(url))}") from None
    if "password" not in options and os.environ.get("REDISCLI_AUTH"):
        options["password"] = os.environ["REDISCLI_AUTH"]
    if db is not None:
        options["db"] = db
    options.setdefault("socket_timeout", timeout)
    options.setdefault("socket_connect_timeout", timeout)
    return redis.Redis(connection_pool=ConnectionPool(**options))


@dataclass
class LiveProfile:
    """Two INFO snapshots of one server, the command rates between them, a key sample and settings."""

    url: str
    taken_at: datetime
    before: dict
    after: dict
    rates: CommandRates
    sample: KeySample
    config: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def get(self, name: str, default: Any = None) -> Any:
        """One field of the last INFO snapshot."""
        return self.after.get(name, default)

    @property
    def engine_name(self) -> str:
        valkey = "valkey_version" in self.after or str(self.get("server_name", "")).lower() == "valkey"
        return "valkey" if valkey else "redis"

    @property
    def engine_version(self) -> str:
        from .writer import clean_version

        return clean_version(self.get("valkey_version") if self.engine_name == "valkey" else self.get("redis_version"))

    @property
    def allocator(self) -> str | None:
        """``jemalloc`` or ``libc`` from ``mem_allocator``; None for allocators rbsim does not model."""
        raw = str(self.get("mem_allocator", "")).lower()
        if raw.startswith("jemalloc"):
            return "jemalloc"
        return "libc" if raw.startswith("libc") else None

    @property
    def keys_per_db(self) -> dict[int, int]:
        return _keyspace(self.after)

    @property
    def keys(self) -> int:
        return sum(self.keys_per_db.values())

    @property
    def key_growth(self) -> int:
        """Net keys added over the window (all dbs)."""
        return self.keys - sum(_keyspace(self.before).values())

    @property
    def has_saved(self) -> bool:
        """Whether the server has forked for a save since it started (so its own figures exist)."""
        return int(self.get("rdb_last_cow_size", 0) or 0) > 0 or int(self.get("latest_fork_usec", 0) or 0) > 0


def _keyspace(info: dict) -> dict[int, int]:
    dbs = {}
    for key, value in info.items():
        if isinstance(key, str) and key.startswith("db") and key[2:].isdigit() and isinstance(value, dict):
            dbs[int(key[2:])] = int(value.get("keys", 0))
    return dbs


def profile_server(
    url: str,
    window: float = DEFAULT_WINDOW_S,
    sample_keys: int | None = None,
    sample_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> LiveProfile:
    """Read ``url`` for ``window`` seconds: INFO at both ends, CONFIG GET and a key sample in between.

    ``sample_keys``/``sample_seconds`` None: sized by :func:`keysample.plan` from the server's key count.
    """
    import redis

    secrets = secrets_in(url)
    shown = redact_url(url)
    notes: list[str] = []
    try:
        client = connect(url)
        taken_at = datetime.now(UTC)
        start = clock()
        before = client.info("all")
        start = (start + clock()) / 2
        config = _read_config(client, notes)
        db = client.connection_pool.connection_kwargs.get("db", 0) or 0
        keyspace = _keyspace(before)
        limit, seconds = keysample.plan(sum(keyspace.values()), sample_keys, sample_seconds)
        sample = keysample.sample(lambda n: connect(url, db=n), db, keyspace, limit, seconds, clock, notes)
        remaining = window - (clock() - start)
        if remaining > 0:
            sleep(remaining)
        end = clock()
        after = client.info("all")
        end = (end + clock()) / 2
    except redis.AuthenticationError as exc:
        raise ProfileError(f"{shown}: authentication failed ({scrub(str(exc), secrets)})") from None
    except redis.ResponseError as exc:
        raise ProfileError(f"{shown}: the server refused INFO ({scrub(str(exc), secrets)})") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise ProfileError(f"cannot reach {shown}: {scrub(str(exc), secrets) or type(exc).__name__}") from None
    rates = commands.rates(before, after, end - start, own=sample.own_calls)
    if rates.reset:
        notes.append("command counters went down during the window (CONFIG RESETSTAT or a restart): rates are rough")
    if int(before.get("rdb_bgsave_in_progress", 0) or 0) or int(after.get("rdb_bgsave_in_progress", 0) or 0):
        notes.append("a background save was running during the window; its own load is in these figures")
    if int(after.get("cluster_enabled", 0) or 0):
        notes.append("cluster mode: this node holds only its own slots; profile each shard's primary separately")
    return LiveProfile(shown, taken_at, before, after, rates, sample, config, notes)


def _read_config(client, notes: list[str]) -> dict[str, str]:
    """The backup-related settings CONFIG GET shows; none (and a note) where CONFIG is blocked."""
    import redis

    config: dict[str, str] = {}
    for key in CONFIG_KEYS:
        try:
            reply = client.config_get(key)
        except redis.ResponseError as exc:
            notes.append(
                f"CONFIG GET is not available on this server ({_first_line(exc)}): "
                "backup settings left at rbsim's defaults"
            )
            return {}
        for name, value in reply.items():
            config[_text(name)] = _text(value)
    return config


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def cow_error(profile: LiveProfile, summary: Summary) -> float | None:
    """(predicted - server) / server copy-on-write of the last save, or None when the server reports none."""
    cow = int(profile.get("rdb_last_cow_size", 0) or 0)
    return summary.cow_peak_bytes / cow - 1 if cow > 0 else None


def self_check(profile: LiveProfile, summary: Summary) -> list[str]:
    """Lines setting the simulated fork stall, copy-on-write and save time beside the server's last save."""
    from .. import units
    from .yamltext import format_rate

    info = profile.after
    fork_s = int(info.get("latest_fork_usec", 0) or 0) / 1e6
    cow = int(info.get("rdb_last_cow_size", 0) or 0)
    save_s = int(info.get("rdb_last_bgsave_time_sec", -1))
    rows = [
        ("fork stall", summary.fork_stall_s, fork_s, units.format_duration),
        ("copy-on-write", summary.cow_peak_bytes, cow, units.format_bytes),
    ]
    if save_s >= 0 and summary.save_duration_s is not None:
        rows.append(("save duration", summary.save_duration_s, float(save_s), units.format_duration))
    lines = [
        "self-check: rbsim's prediction for this scenario beside the server's own last background save",
        f"  {'':<14} {'predicted':>11} {'server':>11}  predicted/server",
    ]
    for label, predicted, observed, fmt in rows:
        if label == "save duration" and observed < MIN_SAVE_S_FOR_RATIO:
            ratio = "n/a (the server counts whole seconds)"
        else:
            ratio = f"{predicted / observed:.2g}x" if observed > 0 else "n/a (server figure is 0)"
        lines.append(f"  {label:<14} {fmt(predicted):>11} {fmt(observed):>11}  {ratio}")
    error = cow_error(profile, summary)
    if error is not None:
        verdict = (
            "within" if abs(error) <= COW_TARGET else "outside"
        ) + f" the ±{COW_TARGET:.0%} a profiled scenario aims for"
        hint = "" if abs(error) <= COW_TARGET else ": check the groups, the mix and key_distribution"
        lines.append(f"  copy-on-write error {error:+.0%} ({verdict}{hint})")
    finished = datetime.fromtimestamp(int(info.get("rdb_last_save_time", 0) or 0), UTC)
    age = max(0.0, (profile.taken_at - finished).total_seconds())
    lines.append(
        f"  the server's figures: INFO latest_fork_usec, rdb_last_cow_size, rdb_last_bgsave_time_sec (whole "
        f"seconds); its last save ended {finished:%Y-%m-%d %H:%M:%S} UTC ({units.format_duration(age)} ago), "
        f"status {info.get('rdb_last_bgsave_status', '?')}"
    )
    lines.append(
        f"  that save ran under the load of its own time, which may differ from the "
        f"{format_rate(profile.rates.writes_per_sec)} writes/s measured now; the ratio shows how far to trust "
        "predictions for this node, not a precise error"
    )
    if str(info.get("aof_enabled", "0")) == "1" or int(info.get("connected_slaves", 0) or 0) > 0:
        lines.append("  latest_fork_usec may come from an AOF rewrite or a replica's full sync rather than a BGSAVE")
    return lines
