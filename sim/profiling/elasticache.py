"""Profile an ElastiCache replication group or cache cluster with read-only AWS calls: node type, engine,
topology, reserved memory, snapshot window and a day of hourly CloudWatch figures of one node."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import ProfileError

HOURS = 24
PERIOD_S = 3600
NAMESPACE = "AWS/ElastiCache"
METRICS = {
    # key: (CloudWatch metric, statistic, divide by) -- counts per period become per-second rates
    "writes_per_sec": ("SetTypeCmds", "Sum", PERIOD_S),
    "reads_per_sec": ("GetTypeCmds", "Sum", PERIOD_S),
    "bytes_used": ("BytesUsedForCache", "Average", 1),
    "items": ("CurrItems", "Average", 1),
    "swap_max": ("SwapUsage", "Maximum", 1),
    "freeable_min": ("FreeableMemory", "Minimum", 1),
    "saving": ("SaveInProgress", "Maximum", 1),
}
DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "AuthFailure",
    "SignatureDoesNotMatch",
}
NOT_FOUND = {
    "ReplicationGroupNotFoundFault",
    "ReplicationGroupNotFound",
    "CacheClusterNotFound",
    "CacheClusterNotFoundFault",
}


@dataclass
class ElastiCacheProfile:
    """What the AWS APIs say about one replication group or cache cluster, and one node's last day."""

    target: str
    kind: str
    region: str
    taken_at: datetime
    node_id: str
    node_type: str | None = None
    engine: str | None = None
    engine_version: str | None = None
    shards: int = 1
    replicas_per_shard: int = 0
    cluster_mode: bool = False
    parameter_group: str | None = None
    reserved_memory_percent: float | None = None
    reserved_memory: int | None = None
    parameters: dict[str, str] = field(default_factory=dict)  # encoding thresholds and maxmemory-policy
    snapshot_window: str | None = None
    snapshot_retention_limit: int | None = None
    snapshotting_cluster: str | None = None
    hours: list[datetime] = field(default_factory=list)
    hourly: dict[str, list[float | None]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def backup_hour(self) -> int | None:
        """UTC hour the snapshot window starts (``05:00-06:00`` -> 5), or None without a window."""
        if not self.snapshot_window:
            return None
        try:
            return int(self.snapshot_window.split("-")[0].split(":")[0]) % 24
        except ValueError:
            return None

    def by_hour_of_day(self, key: str) -> list[float | None]:
        """The hourly series of ``key`` indexed by UTC hour of day (0..23)."""
        out: list[float | None] = [None] * 24
        for start, value in zip(self.hours, self.hourly.get(key, []), strict=False):
            out[start.hour] = value
        return out


def profile_elasticache(
    target: str, region: str | None = None, session: Any = None, now: datetime | None = None
) -> ElastiCacheProfile:
    """Describe ``target`` (replication group or cache cluster id) and read its last 24 h of CloudWatch."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError
    except ImportError:
        raise ProfileError(
            "profile elasticache:// needs boto3: pip install 'rbsim[aws]' (make run installs it)"
        ) from None

    session = session or boto3.session.Session(region_name=region)
    try:
        ec = session.client("elasticache", region_name=region)
        cw = session.client("cloudwatch", region_name=region)
        region = ec.meta.region_name
        profile = _describe(ec, target, region)
        profile.taken_at = now or datetime.now(UTC)
        _read_parameters(ec, profile)
        _read_metrics(cw, profile)
    except NoRegionError:
        raise ProfileError("no AWS region: pass --region or set AWS_REGION / a profile's region") from None
    except NoCredentialsError:
        raise ProfileError("no AWS credentials found (environment, ~/.aws, instance role)") from None
    except ClientError as exc:
        raise ProfileError(client_error_message(exc, target, region)) from None
    except BotoCoreError as exc:
        raise ProfileError(f"AWS call failed: {exc}") from None
    return profile


def client_error_message(exc, target: str, region: str | None) -> str:
    """One line for a botocore ClientError: missing permission, unknown id, or AWS's own words."""
    error = exc.response.get("Error", {})
    code, message = error.get("Code", ""), " ".join(str(error.get("Message", "")).split())
    operation = getattr(exc, "operation_name", "") or "the call"
    where = f" in {region}" if region else ""
    if code in DENIED:
        return f"not allowed to call {_service(operation)}:{operation} ({code}): {message}".rstrip(": ")
    if code in NOT_FOUND:
        return f"no ElastiCache replication group or cache cluster named {target!r}{where}"
    return f"{operation} failed ({code}): {message}"


def _service(operation: str) -> str:
    return "cloudwatch" if operation.startswith(("GetMetric", "ListMetrics")) else "elasticache"


def _describe(ec, target: str, region: str) -> ElastiCacheProfile:
    """The replication group ``target`` (or the cache cluster of that id) and its first shard's primary."""
    from botocore.exceptions import ClientError

    try:
        group = ec.describe_replication_groups(ReplicationGroupId=target)["ReplicationGroups"][0]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in NOT_FOUND:
            raise
        group = None
    if group is None:
        cluster = ec.describe_cache_clusters(CacheClusterId=target, ShowCacheNodeInfo=True)["CacheClusters"][0]
        profile = ElastiCacheProfile(target, "cache cluster", region, datetime.now(UTC), target)
        if cluster.get("ReplicationGroupId"):
            profile.notes.append(
                f"{target} belongs to replication group {cluster['ReplicationGroupId']}; profiling this node only"
            )
            _from_group_by_id(ec, cluster["ReplicationGroupId"], profile)
        _from_cluster(cluster, profile)
        return profile
    members = [m for g in group.get("NodeGroups", []) for m in g.get("NodeGroupMembers", [])]
    first = group.get("NodeGroups", [{}])[0].get("NodeGroupMembers", [])
    primary = next((m for m in first if m.get("CurrentRole") == "primary"), first[0] if first else None)
    node_id = primary["CacheClusterId"] if primary else (group.get("MemberClusters") or [target])[0]
    profile = ElastiCacheProfile(target, "replication group", region, datetime.now(UTC), node_id)
    _from_group(group, profile)
    if profile.shards > 1:
        profile.notes.append(
            f"{profile.shards} shards: the figures are those of shard "
            f"{group['NodeGroups'][0].get('NodeGroupId', '1')}'s primary {node_id}; the scenario "
            "describes one shard"
        )
    if not members:
        profile.notes.append("the replication group lists no node groups; shards and replicas unknown")
    try:
        cluster = ec.describe_cache_clusters(CacheClusterId=node_id, ShowCacheNodeInfo=True)["CacheClusters"][0]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in NOT_FOUND:
            raise
        profile.notes.append(
            f"member cluster {node_id} could not be described: engine version and parameter group unknown"
        )
    else:
        _from_cluster(cluster, profile)
    return profile


def _from_group_by_id(ec, group_id: str, profile: ElastiCacheProfile) -> None:
    from botocore.exceptions import ClientError

    try:
        group = ec.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]
    except ClientError:
        return
    _from_group(group, profile)


def _from_group(group: dict, profile: ElastiCacheProfile) -> None:
    groups = group.get("NodeGroups") or []
    profile.shards = max(1, len(groups))
    sizes = [len(g.get("NodeGroupMembers") or []) for g in groups]
    if sizes and max(sizes) > 0:
        profile.replicas_per_shard = max(0, max(sizes) - 1)
    elif group.get("MemberClusters"):
        profile.replicas_per_shard = max(0, len(group["MemberClusters"]) // profile.shards - 1)
    profile.cluster_mode = bool(group.get("ClusterEnabled"))
    profile.node_type = group.get("CacheNodeType") or profile.node_type
    profile.engine = group.get("Engine") or profile.engine
    profile.snapshot_window = group.get("SnapshotWindow") or profile.snapshot_window
    profile.snapshot_retention_limit = group.get("SnapshotRetentionLimit", profile.snapshot_retention_limit)
    profile.snapshotting_cluster = group.get("SnapshottingClusterId")


def _from_cluster(cluster: dict, profile: ElastiCacheProfile) -> None:
    profile.node_type = cluster.get("CacheNodeType") or profile.node_type
    profile.engine = cluster.get("Engine") or profile.engine
    profile.engine_version = cluster.get("EngineVersion") or profile.engine_version
    profile.parameter_group = (cluster.get("CacheParameterGroup") or {}).get("CacheParameterGroupName")
    if profile.snapshot_window is None:
        profile.snapshot_window = cluster.get("SnapshotWindow")
    if profile.snapshot_retention_limit is None:
        profile.snapshot_retention_limit = cluster.get("SnapshotRetentionLimit")


def _read_parameters(ec, profile: ElastiCacheProfile) -> None:
    """``reserved-memory-percent`` / ``reserved-memory``, the encoding thresholds and ``maxmemory-policy`` from the
    parameter group; a note where unreadable."""
    from botocore.exceptions import ClientError

    from ..keygroups import PARAMETER_NAMES

    wanted = {*PARAMETER_NAMES, *(name.replace("listpack", "ziplist") for name in PARAMETER_NAMES)}

    if not profile.parameter_group:
        profile.notes.append("parameter group unknown: reserved memory left at ElastiCache's default 25%")
        return
    values: dict[str, str] = {}
    try:
        pages = ec.get_paginator("describe_cache_parameters").paginate(CacheParameterGroupName=profile.parameter_group)
        for page in pages:
            for parameter in page.get("Parameters", []):
                name = parameter.get("ParameterName")
                if name in ("reserved-memory-percent", "reserved-memory"):
                    values[name] = parameter.get("ParameterValue")
                elif name in wanted and parameter.get("ParameterValue") is not None:
                    profile.parameters[name] = str(parameter["ParameterValue"])
    except (ClientError, NotImplementedError) as exc:  # NotImplementedError: emulators (moto) lack this call
        reason = client_error_message(exc, profile.target, profile.region) if isinstance(exc, ClientError) else str(exc)
        profile.notes.append(
            f"parameter group {profile.parameter_group} unreadable ({reason}): "
            "reserved memory left at ElastiCache's default 25%"
        )
        return
    reserved = _number(values.get("reserved-memory"))
    percent = _number(values.get("reserved-memory-percent"))
    if reserved:
        profile.reserved_memory = int(reserved)
    elif percent is not None:
        profile.reserved_memory_percent = percent


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _read_metrics(cw, profile: ElastiCacheProfile) -> None:
    """24 hourly values of each metric in :data:`METRICS` for the profiled node (None where CloudWatch has none)."""
    end = profile.taken_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=HOURS)
    profile.hours = [start + timedelta(hours=h) for h in range(HOURS)]
    dimensions = [{"Name": "CacheClusterId", "Value": profile.node_id}, {"Name": "CacheNodeId", "Value": "0001"}]
    queries = [
        {
            "Id": f"m{i}",
            "ReturnData": True,
            "MetricStat": {
                "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dimensions},
                "Period": PERIOD_S,
                "Stat": stat,
            },
        }
        for i, (metric, stat, _) in enumerate(METRICS.values())
    ]
    found: dict[str, dict[datetime, float]] = {f"m{i}": {} for i in range(len(METRICS))}
    token = None
    while True:
        kwargs = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end, "ScanBy": "TimestampAscending"}
        if token:
            kwargs["NextToken"] = token
        reply = cw.get_metric_data(**kwargs)
        for result in reply.get("MetricDataResults", []):
            for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                found[result["Id"]][stamp.astimezone(UTC).replace(minute=0, second=0, microsecond=0)] = value
        token = reply.get("NextToken")
        if not token:
            break
    for i, (key, (_metric, _, divide)) in enumerate(METRICS.items()):
        series = found[f"m{i}"]
        profile.hourly[key] = [series[h] / divide if h in series else None for h in profile.hours]
    missing = [METRICS[k][0] for k, v in profile.hourly.items() if all(x is None for x in v)]
    if missing:
        profile.notes.append(
            f"CloudWatch has no data in the last {HOURS} h for {profile.node_id}: {', '.join(missing)}"
        )
