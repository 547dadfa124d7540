"""``rbsim profile elasticache://ID`` against moto's ElastiCache, CloudWatch and IAM emulators.

moto describes replication groups and cache clusters, stores CloudWatch metrics and enforces IAM
policies; it lacks describe_cache_parameters (the profile then notes the default 25 % reserve) and
does not create the member clusters of a replication group (tests create them explicitly).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import yaml

pytest.importorskip("boto3")
pytest.importorskip("moto")

import boto3
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from sim import units
from sim.profiling import typedwriter, writer, yamltext
from sim.profiling.cli import main
from sim.profiling.elasticache import profile_elasticache
from sim.scenario import Backup, Workload, parse_scenario

REGION = "us-east-1"
GIB = 1024**3


def writes_at(hour: int) -> float:
    return 1000.0 + 100.0 * hour


def reads_at(hour: int) -> float:
    return 5000.0 + 10.0 * hour


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


def put_day(cluster_id: str, save_hour: int = 3) -> None:
    """25 hours of hourly datapoints (so a day is complete even if the hour turns during the test)."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    dims = [{"Name": "CacheClusterId", "Value": cluster_id}, {"Name": "CacheNodeId", "Value": "0001"}]
    for back in range(1, 26):
        stamp = now - timedelta(hours=back) + timedelta(minutes=30)
        hour = stamp.hour
        values = {
            "SetTypeCmds": writes_at(hour) * 3600,
            "GetTypeCmds": reads_at(hour) * 3600,
            "BytesUsedForCache": 3 * GIB + hour * 2**20,
            "CurrItems": 2_000_000 + 1000 * hour,
            "SwapUsage": 5 * 2**20,
            "FreeableMemory": 4 * GIB,
            "SaveInProgress": 1.0 if hour == save_hour else 0.0,
        }
        cw.put_metric_data(
            Namespace="AWS/ElastiCache",
            MetricData=[
                {"MetricName": name, "Dimensions": dims, "Timestamp": stamp, "Value": value}
                for name, value in values.items()
            ],
        )


def make_group(members: bool = True) -> None:
    ec = boto3.client("elasticache", region_name=REGION)
    ec.create_replication_group(
        ReplicationGroupId="orders",
        ReplicationGroupDescription="orders cache",
        CacheNodeType="cache.r6g.large",
        Engine="redis",
        EngineVersion="7.0.7",
        ReplicasPerNodeGroup=1,
        SnapshotWindow="03:00-04:00",
        SnapshotRetentionLimit=7,
        CacheParameterGroupName="orders-params",
    )
    if members:  # moto does not create a replication group's member clusters
        for member in ("orders-001", "orders-002"):
            ec.create_cache_cluster(
                CacheClusterId=member,
                ReplicationGroupId="orders",
                CacheNodeType="cache.r6g.large",
                Engine="redis",
                EngineVersion="7.0.7",
                CacheParameterGroupName="orders-params",
            )


def check(text: str):
    """Validate the YAML; without the model's new fields yet, validate the rest (and say which were dropped)."""
    data = yaml.safe_load(text)
    if "daily_profile" not in Workload.model_fields:
        del data["workload"]["daily_profile"]
    for key in ("start", "retention_days"):
        if key not in Backup.model_fields:
            data["backup"].pop(key, None)
    return parse_scenario(yaml.safe_dump(data))


def run(capfd, *args):
    code = main([*args])
    out, err = capfd.readouterr()
    return code, out, err


def test_replication_group_becomes_a_scenario_with_a_daily_profile(aws, capfd):
    make_group()
    put_day("orders-001")
    code, out, err = run(capfd, "elasticache://orders", "--region", REGION)
    assert code == 0, err
    data = yaml.safe_load(out)
    scenario = check(out)
    assert scenario.node.type == "cache.r6g.large" and scenario.platform == "nitro"
    assert scenario.engine.name == "redis" and scenario.engine.version == "7.0.7"
    assert scenario.backup.source == "replica" and data["backup"]["start"] == "03:00"
    profile = data["workload"]["daily_profile"]
    assert len(profile["writes_per_sec"]) == 24 == len(profile["reads_per_sec"])
    for hour in range(24):
        assert units.parse_rate(profile["writes_per_sec"][hour]) == pytest.approx(writes_at(hour), rel=0.005)
        assert units.parse_rate(profile["reads_per_sec"][hour]) == pytest.approx(reads_at(hour), rel=0.005)
    # the scenario's own rates and data are those of the snapshot window's first hour
    assert scenario.workload.writes_per_sec == pytest.approx(writes_at(3), rel=0.005)
    assert scenario.dataset.keys == pytest.approx(2_003_000, rel=0.001)
    assert scenario.dataset.used_memory == pytest.approx(3 * GIB + 3 * 2**20, rel=0.001)
    # moto's clusters carry no CacheParameterGroup: the default reserve, flagged as a guess, and a note
    assert scenario.node.reserved_memory_percent == 25 and "guess: ElastiCache's default" in out
    assert "parameter group unknown" in out + err
    assert "SaveInProgress during the day: 03:30 UTC" in out or "SaveInProgress during the day: 03:00 UTC" in out
    assert "1 shard(s) x (1 primary + 1 replica(s))" in out and data["backup"]["retention_days"] == 7


class ParameterGroupClient:
    """moto's ElastiCache client plus the parameter-group calls moto lacks (canned answers)."""

    def __init__(self, real, parameters: dict[str, str]):
        self._real, self._parameters = real, parameters

    def __getattr__(self, name):
        return getattr(self._real, name)

    def describe_cache_clusters(self, **kwargs):
        reply = self._real.describe_cache_clusters(**kwargs)
        for cluster in reply["CacheClusters"]:
            cluster["CacheParameterGroup"] = {"CacheParameterGroupName": "orders-params"}
        return reply

    def get_paginator(self, operation):
        if operation != "describe_cache_parameters" or self._parameters is None:
            return self._real.get_paginator(operation)
        pages = [
            {"Parameters": [{"ParameterName": "maxmemory-policy", "ParameterValue": "volatile-lru"}]},
            {"Parameters": [{"ParameterName": k, "ParameterValue": v} for k, v in self._parameters.items()]},
        ]

        class Paginator:
            def paginate(self, CacheParameterGroupName):
                assert CacheParameterGroupName == "orders-params"
                return iter(pages)

        return Paginator()


class Session:
    def __init__(self, parameters):
        self.parameters = parameters

    def client(self, service, region_name=None):
        real = boto3.client(service, region_name=region_name or REGION)
        return ParameterGroupClient(real, self.parameters) if service == "elasticache" else real


@pytest.mark.parametrize(
    "parameters,field,value",
    [
        ({"reserved-memory-percent": "50", "reserved-memory": "0"}, "reserved_memory_percent", 50),
        ({"reserved-memory-percent": "25", "reserved-memory": "3221225472"}, "reserved_memory", 3 * GIB),
    ],
)
def test_reserved_memory_comes_from_the_parameter_group(aws, parameters, field, value):
    make_group()
    put_day("orders-001")
    profile = profile_elasticache("orders", region=REGION, session=Session(parameters))
    document = writer.elasticache_document(profile)
    scenario, _ = writer.validate(document)
    assert getattr(scenario.node, field) == value
    assert "parameter group orders-params" in document.text()


def test_encoding_thresholds_and_eviction_policy_come_from_the_parameter_group(aws):
    make_group()
    put_day("orders-001")
    parameters = {"hash-max-ziplist-entries": "256", "zset-max-listpack-value": "32", "activedefrag": "no"}
    profile = profile_elasticache("orders", region=REGION, session=Session(parameters))
    assert profile.parameters == {
        "maxmemory-policy": "volatile-lru",
        "hash-max-ziplist-entries": "256",
        "zset-max-listpack-value": "32",
    }
    item = typedwriter.parameters_item(profile.parameters, "parameter group orders-params")
    assert yamltext.to_data([item]) == {
        "parameters": {
            "hash-max-listpack-entries": 256,
            "zset-max-listpack-value": 32,
            "maxmemory-policy": "volatile-lru",
        }
    }
    assert "parameter group orders-params hash-max-ziplist-entries" in yamltext.render([item])


def test_a_parameter_group_moto_cannot_read_is_noted(aws):
    make_group()
    put_day("orders-001")
    profile = profile_elasticache("orders", region=REGION, session=Session(None))  # moto: not implemented
    document = writer.elasticache_document(profile)
    scenario, _ = writer.validate(document)
    assert scenario.node.reserved_memory_percent == 25
    assert "parameter group orders-params unreadable" in document.text()


def test_a_standalone_cache_cluster_without_member_details(aws, capfd):
    boto3.client("elasticache", region_name=REGION).create_cache_cluster(
        CacheClusterId="solo",
        CacheNodeType="cache.m3.large",
        Engine="redis",
        EngineVersion="6.2.6",
        SnapshotWindow="05:00-06:00",
        SnapshotRetentionLimit=0,
    )
    put_day("solo", save_hour=5)
    code, out, err = run(capfd, "elasticache://solo", "--region", REGION, "--name", "solo-node")
    assert code == 0, err
    scenario = check(out)
    assert scenario.name == "solo-node" and scenario.node.type == "cache.m3.large"
    assert scenario.platform == "xen-pv" and scenario.engine.version == "6.2.6"
    assert scenario.backup.source == "primary" and yaml.safe_load(out)["backup"]["start"] == "05:00"
    assert "0: automatic backups are off" in out


def test_members_moto_cannot_describe_are_noted(aws, capfd):
    make_group(members=False)
    put_day("orders-001")
    code, out, err = run(capfd, "elasticache://orders", "--region", REGION, "--node-type", "cache.r6g.xlarge")
    assert code == 0, err
    scenario = check(out)
    assert scenario.node.type == "cache.r6g.xlarge" and "from --node-type" in out
    assert "member cluster orders-001 could not be described" in out + err
    assert "engine version unknown" in out


def test_unknown_cluster_is_a_one_line_error(aws, capfd):
    code, out, err = run(capfd, "elasticache://nope", "--region", REGION)
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.strip() == f"rbsim: no ElastiCache replication group or cache cluster named 'nope' in {REGION}"


def test_no_metrics_is_a_one_line_error(aws, capfd):
    make_group()
    code, out, err = run(capfd, "elasticache://orders", "--region", REGION)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "CurrItems / BytesUsedForCache" in err


@set_initial_no_auth_action_count(3)
def test_missing_permission_is_a_one_line_error(aws, capfd, monkeypatch):
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="viewer")
    iam.put_user_policy(
        UserName="viewer",
        PolicyName="cloudwatch-only",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "cloudwatch:*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName="viewer")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    code, out, err = run(capfd, "elasticache://orders", "--region", REGION)
    assert code == 2 and out == "" and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "not allowed to call elasticache:DescribeReplicationGroups (AccessDenied)" in err
