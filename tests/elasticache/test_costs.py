"""Monthly costs: on-demand nodes for 730 hours plus backup storage beyond the one free backup."""

import pytest

from sim.elasticache.catalog import get_node_type
from sim.elasticache.costs import (
    BACKUP_USD_PER_GB_MONTH,
    HOURS_PER_MONTH,
    backup_storage_usd_per_month,
    billable_backup_bytes,
    monthly_cost,
    node_usd_per_month,
    stored_backup_bytes,
)

GIB = 1024**3


def test_node_cost_is_price_times_730_hours_times_nodes():
    price = get_node_type("cache.r6g.large").price_usd_per_hour
    assert node_usd_per_month(price) == pytest.approx(price * 730)
    assert node_usd_per_month(price, nodes=3) == pytest.approx(3 * price * HOURS_PER_MONTH)


def test_one_backup_is_free_the_rest_cost_0085_per_gb_month():
    assert stored_backup_bytes(10 * GIB, 7) == 70 * GIB
    assert billable_backup_bytes(10 * GIB, 7) == 60 * GIB
    assert backup_storage_usd_per_month(10 * GIB, 7) == pytest.approx(60 * 0.085)
    assert backup_storage_usd_per_month(10 * GIB, 1) == 0.0  # the single retained backup is the free one
    assert backup_storage_usd_per_month(0, 35) == 0.0
    assert BACKUP_USD_PER_GB_MONTH == 0.085


def test_retention_is_limited_to_35_days():
    with pytest.raises(ValueError, match="35"):
        stored_backup_bytes(GIB, 36)


def test_monthly_cost_adds_nodes_and_storage():
    cost = monthly_cost(0.2, nodes=2, rdb_bytes=4 * GIB, retention_days=5)
    assert cost.node_usd == pytest.approx(0.2 * 730 * 2)
    assert cost.backup_storage_usd == pytest.approx(16 * 0.085)
    assert cost.total_usd == pytest.approx(cost.node_usd + cost.backup_storage_usd)
