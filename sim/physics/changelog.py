"""Engines before 2.8.22: the change log held in the client output buffer during a backup.

Before 2.8.22, ElastiCache's backup and sync forked, then "In the foreground, accumulate a change
log in the client output buffer"; "If the change log exceeds the client output buffer size, the
backup or synchronization fails" (docs/elasticache.md §3.2, SYNC). The limit is the replica
client-output-buffer limit of the node type (about 10 % of maxmemory in AWS's 2023 table).
"""

from __future__ import annotations

COB_SHARE_OF_MAXMEMORY = 0.10
"""Replica output-buffer limit / maxmemory in AWS's node-type table (0.096-0.104, docs/elasticache.md §1.1)."""


def command_bytes(key_size: int, value_size: int) -> int:
    """RESP bytes of ``SET key value`` as replicated: ``*3 $3 SET $klen key $vlen value``."""
    return 4 + 4 + 5 + len(str(key_size)) + 3 + key_size + 2 + len(str(value_size)) + 3 + value_size + 2


def output_buffer_limit(catalog_limit: int | None, node_memory: int) -> int:
    """The node type's replica output-buffer limit, or 10 % of node memory where none is published."""
    return catalog_limit if catalog_limit else int(node_memory * COB_SHARE_OF_MAXMEMORY)
