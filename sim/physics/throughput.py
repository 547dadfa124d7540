"""How many simple requests per second one node serves: the main thread's ceiling, raised by I/O threads.

Redis and Valkey run commands on one main thread, so one node saturates at ``1 / service time``
whatever its vCPUs. I/O threads take socket reads, writes and parsing off that thread, which shortens
its time per request. Published speed-ups (AWS Database Blog, "New for Amazon ElastiCache for Redis 7:
Get up to 72% better throughput with enhanced I/O multiplexing",
https://aws.amazon.com/blogs/database/enhanced-io-multiplexing-for-amazon-elasticache-for-redis/):

* enhanced I/O (ElastiCache Redis 5.0.6+): "up to an 83% increase in throughput ... per node";
* enhanced I/O multiplexing (Redis OSS 7.0.4+, Valkey 7.2.6+, versions from
  https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Scaling-considerations.html): "up to 72%
  increased throughput ... compared with ElastiCache for Redis 6" on an r6g.xlarge (4 vCPUs).

They need spare cores for the I/O threads; rbsim applies them on ElastiCache node types with at least
4 vCPUs (the blog's r6g.xlarge; assumption for other sizes). Open-source servers default to
``io-threads 1`` (redis.conf, valkey.conf), so they get no speed-up.
"""

from __future__ import annotations

from dataclasses import dataclass

ENHANCED_IO = 1.83
MULTIPLEXING = 1.72
MIN_VCPU_FOR_IO_THREADS = 4
BLOG_URL = "https://aws.amazon.com/blogs/database/enhanced-io-multiplexing-for-amazon-elasticache-for-redis/"


@dataclass(frozen=True)
class IoThreads:
    """Main-thread speed-up from I/O threads and where the figure comes from."""

    speedup: float
    source: str


def io_thread_speedup(elasticache: bool, engine_name: str, version: tuple[int, int, int], vcpu: float) -> IoThreads:
    """The factor by which I/O threads raise one node's request ceiling."""
    if not elasticache or vcpu < MIN_VCPU_FOR_IO_THREADS:
        why = "open-source io-threads 1" if not elasticache else f"{vcpu:g} vCPUs leave no core for I/O threads"
        return IoThreads(1.0, f"one main thread ({why})")
    multiplexing = version >= ((7, 2, 6) if engine_name == "valkey" else (7, 0, 4))
    if multiplexing:
        return IoThreads(
            ENHANCED_IO * MULTIPLEXING, f"enhanced I/O x{ENHANCED_IO} and multiplexing x{MULTIPLEXING} ({BLOG_URL})"
        )
    if engine_name == "valkey" or version >= (5, 0, 6):
        return IoThreads(ENHANCED_IO, f"enhanced I/O x{ENHANCED_IO} ({BLOG_URL})")
    return IoThreads(1.0, "one main thread (engine before enhanced I/O)")


def ceiling_per_sec(service_s: float, client_s: float = 0.0, cores: float = 1.0) -> float:
    """Requests per second one node serves: the main thread's ``1 / service_s``, and, when the clients run on
    the same machine (``client_s`` of CPU each request costs them), what ``cores`` leave for both.

    Checked on the lab machine (benchmarks/loopback_ceiling.py, redis-benchmark over loopback, 50 clients,
    1000-byte values, 2 vCPUs shared with other work at load ~3): 40.6k SET/s and 34.0k GET/s, i.e. one
    core's worth at the lab profile's 10 + 20 us per request (33k/s).
    """
    main_thread = 1.0 / service_s
    return main_thread if client_s <= 0 else min(main_thread, cores / (service_s + client_s))
