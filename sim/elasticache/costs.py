"""Monthly AWS cost of an ElastiCache replication group: on-demand nodes plus backup storage.

Sources:
* Node prices: the catalog's ``price_usd_per_hour`` (sim/data/node_types.csv, tag D: a secondary
  source that does not state the region or engine; types without a price cannot be costed).
* Hours per month: 730 = 365 × 24 / 12, the month AWS's pricing calculator bills on-demand hours by
  (the default cost tools follow, e.g. https://github.com/infracost/infracost/issues/1556).
* Backup storage, BK23 (AWS, "Backup and restore for ElastiCache for Redis", section "Backup Costs",
  https://github.com/awsdocs/amazon-elasticache-docs/blob/7ed0a8ac051dff26b488e7ffaeef5bc5942aa7c4/doc_source/redis/backups.md;
  docs/elasticache.md §3.4 "cost"): "ElastiCache allows you to store one backup for each active Redis
  cluster free of charge. Storage space for additional backups is charged at a rate of $0.085/GB
  per month for all regions."
* Retention, BKAUTO (AWS, "Scheduling automatic backups", doc_source/redis/backups-automatic.md of the
  same repository): automatic backups are daily and kept ``retention_days`` days (at most 35).
* A storage "GB" is 2^30 bytes: AWS's S3 FAQ bills "10 TB" as 10,995,116,277,760 bytes
  (https://aws.amazon.com/s3/faqs/, storage charge examples).
"""

from __future__ import annotations

from dataclasses import dataclass

HOURS_PER_MONTH = 730.0
BACKUP_USD_PER_GB_MONTH = 0.085
FREE_BACKUPS_PER_CLUSTER = 1
MAX_RETENTION_DAYS = 35
STORAGE_GB = 1024**3


@dataclass(frozen=True)
class MonthlyCost:
    """USD per month of one configuration: its nodes and its backup storage."""

    nodes: int
    node_usd: float
    backup_storage_usd: float

    @property
    def total_usd(self) -> float:
        return self.node_usd + self.backup_storage_usd


def node_usd_per_month(price_usd_per_hour: float, nodes: int = 1) -> float:
    """On-demand cost of ``nodes`` nodes for a 730-hour month."""
    return price_usd_per_hour * HOURS_PER_MONTH * nodes


def stored_backup_bytes(rdb_bytes: float, retention_days: int) -> float:
    """Bytes held in S3 with one automatic backup a day kept ``retention_days`` days."""
    if not 0 <= retention_days <= MAX_RETENTION_DAYS:
        raise ValueError(f"retention_days must be 0..{MAX_RETENTION_DAYS} (ElastiCache's limit), got {retention_days}")
    return float(rdb_bytes) * retention_days


def billable_backup_bytes(rdb_bytes: float, retention_days: int) -> float:
    """Stored backup bytes minus the one backup per cluster that AWS stores free."""
    return max(0.0, stored_backup_bytes(rdb_bytes, retention_days) - FREE_BACKUPS_PER_CLUSTER * float(rdb_bytes))


def backup_storage_usd_per_month(rdb_bytes: float, retention_days: int) -> float:
    """Monthly charge for backups beyond the free one, at $0.085 per GB-month."""
    return billable_backup_bytes(rdb_bytes, retention_days) / STORAGE_GB * BACKUP_USD_PER_GB_MONTH


def monthly_cost(price_usd_per_hour: float, nodes: int, rdb_bytes: float, retention_days: int) -> MonthlyCost:
    """Nodes plus backup storage of one replication group (``rdb_bytes``: one backup of the cluster)."""
    return MonthlyCost(
        nodes=nodes,
        node_usd=node_usd_per_month(price_usd_per_hour, nodes),
        backup_storage_usd=backup_storage_usd_per_month(rdb_bytes, retention_days),
    )
