"""The node's memory budget: physical limit, reserved memory, data limit and swap."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MemoryBudget:
    """Limits a backup's memory demand is measured against (bytes)."""

    node_memory: int  # node type's maxmemory (the advertised node memory) or the container limit
    reserved: int  # held back from data for backups, failover and buffers
    swap: int

    @property
    def maxmemory(self) -> int:
        """The data limit Redis enforces: node memory minus the reservation."""
        return self.node_memory - self.reserved

    @property
    def hard_limit(self) -> int:
        """Demand above this has nowhere to go: the kernel kills a process."""
        return self.node_memory + self.swap


def memory_budget(node_memory: int, reserved_percent: float, reserved_bytes: int | None, swap: int) -> MemoryBudget:
    """Budget of a node of ``node_memory`` bytes (its maxmemory, or a container's limit).

    ElastiCache reserves ``reserved-memory-percent`` of the node type's ``maxmemory`` (docs/elasticache.md
    §1.1: cache.t3.micro 536870912 x 0.75 = the 402653184 INFO shows), or ``reserved-memory`` bytes when
    given; a container is treated alike.
    """
    if reserved_bytes is not None:
        reserved = min(int(reserved_bytes), node_memory)
    else:
        reserved = int(round(node_memory * reserved_percent / 100.0))
    return MemoryBudget(node_memory=node_memory, reserved=reserved, swap=int(swap))


MIN_DATA_GROWTH = 1.25
"""How far the data should be able to grow before it outgrows maxmemory: a quarter more (rbsim's default
margin until the next sizing review; an operating choice, not physics). Below it run warns and plan fails
the candidate (``plan.objectives.min_data_growth``)."""
