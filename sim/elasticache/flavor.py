"""Which server build a scenario runs (ElastiCache's or open source) and what that build can do.

The scenario says it in ``engine.build``; when left out, a catalog node type (``node.type``) means
ElastiCache and an explicit memory limit (``node.memory``, a container) or the ``lab`` platform means
the open-source server. Forkless backups exist only in ElastiCache's engine from 2.8.22 (Redis OSS
and Valkey; docs/elasticache.md §3.1, https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/backups.html)
and in open-source Valkey from 9.2 (``BGSAVE THREAD``); open-source Redis always forks.
"""

from __future__ import annotations

ELASTICACHE = "elasticache"
OPEN_SOURCE = "open-source"
BUILDS = (ELASTICACHE, OPEN_SOURCE)
ELASTICACHE_FORKLESS_MIN = (2, 8, 22)
VALKEY_THREAD_SAVE_MIN = (9, 2, 0)
"""Open-source Valkey's forkless ``BGSAVE THREAD`` first ships in 9.2."""


def build_of(explicit: str | None, node_type: str | None, platform: str) -> str:
    """The build a scenario runs: the explicit ``engine.build``, else derived from node and platform."""
    if explicit is not None:
        return explicit
    return ELASTICACHE if node_type is not None and platform != "lab" else OPEN_SOURCE


def has_forkless(build: str, engine_name: str, version: tuple[int, int, int]) -> bool:
    """Whether this build and engine version can save without forking."""
    if build == ELASTICACHE:
        return engine_name == "valkey" or version >= ELASTICACHE_FORKLESS_MIN
    return engine_name == "valkey" and version >= VALKEY_THREAD_SAVE_MIN


def forkless_requirement() -> str:
    """What a forkless backup needs, in words (for error messages and warnings)."""
    return (
        "ElastiCache's engine from 2.8.22 (engine.build: elasticache) or open-source Valkey 9.2 or later; "
        "open-source Redis always forks"
    )
