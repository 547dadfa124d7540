"""Classify Redis commands as writes, reads or admin, and turn two ``INFO commandstats`` snapshots into
rates: the simulator needs writes/s (they copy pages during a save) and reads/s (they only queue)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["write", "read", "ignored", "unknown"]

WRITE_COMMANDS = frozenset(
    """
    set setex psetex setnx setrange mset msetnx getset getdel getex append incr incrby incrbyfloat decr decrby
    del unlink expire expireat pexpire pexpireat persist rename renamenx move copy restore migrate
    hset hsetnx hmset hdel hincrby hincrbyfloat hexpire hpexpire hexpireat hpexpireat hpersist hgetdel hgetex hsetex
    lpush lpushx rpush rpushx lpop rpop linsert lset lrem ltrim rpoplpush lmove blpop brpop brpoplpush blmove
    lmpop blmpop
    sadd srem spop smove sinterstore sunionstore sdiffstore
    zadd zrem zincrby zpopmin zpopmax bzpopmin bzpopmax zmpop bzmpop zremrangebyscore zremrangebyrank
    zremrangebylex zunionstore zinterstore zdiffstore zrangestore
    xadd xdel xtrim xgroup xack xclaim xautoclaim xsetid
    pfadd pfmerge setbit bitop bitfield geoadd georadius georadiusbymember geosearchstore
    sort flushdb flushall swapdb
    json.set json.del json.forget json.arrappend json.arrinsert json.arrpop json.arrtrim json.clear
    json.merge json.mset json.numincrby json.nummultby json.strappend json.toggle
""".split()
)
"""Commands that modify keys (Redis, Valkey and RedisJSON); each call counts as one write."""

READ_COMMANDS = frozenset(
    """
    get mget getrange substr strlen exists ttl pttl expiretime pexpiretime type keys scan randomkey dump
    object touch lcs
    hget hmget hgetall hkeys hvals hlen hexists hstrlen hscan hrandfield httl hpttl hexpiretime hpexpiretime
    lrange lindex llen lpos
    smembers sismember smismember scard srandmember sscan sinter sunion sdiff sintercard
    zrange zrangebyscore zrangebylex zrevrange zrevrangebyscore zrevrangebylex zscore zmscore zrank
    zrevrank zcard zcount zlexcount zscan zrandmember zunion zinter zdiff zintercard
    xrange xrevrange xlen xread xreadgroup xpending xinfo
    pfcount getbit bitcount bitpos bitfield_ro geopos geodist geohash geosearch georadius_ro
    georadiusbymember_ro sort_ro
    json.get json.mget json.type json.strlen json.arrlen json.arrindex json.objkeys json.objlen json.resp
""".split()
)
"""Commands that only read keys."""

IGNORED_COMMANDS = frozenset(
    """
    info ping echo config client slowlog latency memory command cluster readonly readwrite asking
    auth hello select quit reset dbsize time lastsave save bgsave bgrewriteaof shutdown debug monitor
    sync psync replconf replicaof slaveof role wait waitaof failover acl module lolwut
    multi exec discard watch unwatch
    subscribe unsubscribe psubscribe punsubscribe ssubscribe sunsubscribe publish spublish pubsub
    script function eval evalsha eval_ro evalsha_ro fcall fcall_ro
""".split()
)
"""Admin, connection, transaction and pub/sub commands: neither reads nor writes of the dataset.

Scripts (``eval``, ``fcall``) are listed here because their calls cannot be told apart; the commands a
script runs are counted under their own names in ``INFO commandstats``.
"""


def base_name(stat_key: str) -> str:
    """``cmdstat_config|get`` or ``CONFIG|GET`` -> ``config``: the command a stats line belongs to."""
    name = stat_key.lower().removeprefix("cmdstat_")
    return name.split("|", 1)[0]


def classify(command: str) -> Kind:
    """``write``, ``read``, ``ignored`` (admin/connection) or ``unknown`` for one command name."""
    name = base_name(command)
    if name in WRITE_COMMANDS:
        return "write"
    if name in READ_COMMANDS:
        return "read"
    if name in IGNORED_COMMANDS:
        return "ignored"
    return "unknown"


def command_calls(info: Mapping) -> Counter:
    """Calls per command from parsed INFO (``{'cmdstat_set': {'calls': 3, ...}}``), subcommands merged."""
    calls: Counter = Counter()
    for key, value in info.items():
        if isinstance(key, str) and key.startswith("cmdstat_") and isinstance(value, Mapping):
            calls[base_name(key)] += int(value.get("calls", 0))
    return calls


@dataclass(frozen=True)
class CommandRates:
    """Writes and reads per second over a window, with the busiest commands and what was not classified."""

    seconds: float
    writes_per_sec: float
    reads_per_sec: float
    per_command: dict[str, float] = field(default_factory=dict)
    unknown: dict[str, float] = field(default_factory=dict)
    reset: bool = False

    def top(self, kind: Kind, n: int = 5) -> list[tuple[str, float]]:
        """The ``n`` busiest commands of one kind, as (name, calls per second)."""
        rows = [(name, rate) for name, rate in self.per_command.items() if classify(name) == kind and rate > 0]
        return sorted(rows, key=lambda row: -row[1])[:n]


def rates(before: Mapping, after: Mapping, seconds: float, own: Mapping[str, int] | None = None) -> CommandRates:
    """Rates from two INFO snapshots ``seconds`` apart, minus ``own`` calls (the profiler's sampling)."""
    if seconds <= 0:
        raise ValueError("the sampling window must be longer than zero seconds")
    first, last = command_calls(before), command_calls(after)
    own = Counter({base_name(k): v for k, v in (own or {}).items()})
    reset = any(last[name] < count for name, count in first.items())  # CONFIG RESETSTAT or a restart
    per_command: dict[str, float] = {}
    for name in sorted(set(first) | set(last)):
        delta = last[name] - (0 if reset else first[name]) - own[name]
        if delta > 0:
            per_command[name] = delta / seconds
    writes = sum(r for name, r in per_command.items() if classify(name) == "write")
    reads = sum(r for name, r in per_command.items() if classify(name) == "read")
    unknown = {name: r for name, r in per_command.items() if classify(name) == "unknown"}
    return CommandRates(seconds, writes, reads, per_command, unknown, reset)
