"""Take a profile: read a live server or an ElastiCache cluster and build the scenario that describes it.

:func:`profile` is what ``rbsim profile`` runs and what ``sim.profile`` is for Python callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import units
from . import ProfileError
from .live import redact_url, scrub, secrets_in

if TYPE_CHECKING:
    from ..scenario import Scenario

ELASTICACHE_SCHEME = "elasticache://"


@dataclass(frozen=True)
class Profile:
    """A profiled node: the validated scenario, its YAML text (each figure commented) and the report lines."""

    scenario: Scenario
    text: str
    report: list[str]


def profile(
    source: str,
    *,
    name: str | None = None,
    node_type: str | None = None,
    memory: int | None = None,
    platform: str | None = None,
    window: float = 10.0,
    sample_keys: int | None = None,
    sample_time: float | None = None,
    region: str | None = None,
    self_check: bool = True,
) -> Profile:
    """Profile ``source`` (``redis://...``, ``rediss://...`` or ``elasticache://ID``) into a scenario.

    ``memory`` is in bytes, ``window`` and ``sample_time`` in seconds; ``sample_keys``/``sample_time`` None size
    the key sample from the server's key count (:func:`sim.profiling.keysample.plan`). A live server that has saved
    before is also simulated (the full pipeline) and compared with its own last save, unless
    ``self_check`` is false. Raises :class:`ProfileError` (or an ``InputError`` for a bad node type or
    platform) with no credentials in the message or the text.
    """
    secrets = [] if source.startswith(ELASTICACHE_SCHEME) else secrets_in(source)
    try:
        scenario, text, report = _take(
            source, name, node_type, memory, platform, window, sample_keys, sample_time, region, self_check
        )
    except ProfileError as exc:
        raise ProfileError(scrub(str(exc), secrets)) from None
    return Profile(scenario, scrub(text, secrets), [scrub(line, secrets) for line in report])


def _take(source, name, node_type, memory, platform, window, sample_keys, sample_time, region, self_check):
    from ..elasticache.catalog import get_node_type
    from ..platform import load_platform
    from ..scenario import ScenarioError
    from . import writer

    if node_type:
        get_node_type(node_type)
    if platform:
        load_platform(platform)
    if sample_keys is not None and sample_keys < 0:
        raise ProfileError("--sample-keys must be 0 or more")
    options = {"name": name, "node_type": node_type, "memory": memory, "platform": platform}
    if source.startswith(ELASTICACHE_SCHEME):
        from .elasticache import profile_elasticache

        target = source[len(ELASTICACHE_SCHEME) :].strip("/")
        if not target:
            raise ProfileError("elasticache:// needs a replication group or cluster id, e.g. elasticache://my-cache")
        document = writer.elasticache_document(profile_elasticache(target, region=region), **options)
        live = None
    else:
        from .live import profile_server

        live = profile_server(source, window=window, sample_keys=sample_keys, sample_seconds=sample_time)
        document = writer.live_document(live, **options)
    try:
        scenario, dropped = writer.validate(document)
    except ScenarioError as exc:
        raise ProfileError(f"the profiled scenario does not validate ({exc}); this is a bug in rbsim profile") from None
    report = [_summary(scenario, source)]
    report += [f"  {line}" for line in document.footer if line.startswith("note: ")]
    if dropped:
        report.append(
            f"note: the installed scenario model does not know {', '.join(dropped)} yet: written, "
            "but checked without it"
        )
    if live is not None and live.has_saved and self_check:
        check = _self_check(live, scenario)
        document.footer += [""] + check
        report += check
    return scenario, document.text(), report


def _self_check(live, scenario) -> list[str]:
    """Simulate the profiled scenario through the full pipeline and compare it with the server's last save."""
    from ..inputs import InputError
    from ..run import run
    from .live import self_check

    try:
        summary = run(scenario, timeline=False).summary
    except (NotImplementedError, InputError) as exc:  # a scenario this build cannot simulate
        return [f"self-check skipped: {exc}"]
    return self_check(live, summary)


def _summary(scenario, source: str) -> str:
    data = scenario.dataset
    where = source if source.startswith(ELASTICACHE_SCHEME) else redact_url(source)
    if data.groups is not None:
        groups = scenario.key_groups()
        kinds = ", ".join(f"{g.name} ({g.type}) {g.keys:,}" for g in groups)
        shape = f"{sum(g.keys for g in groups):,} keys in {len(groups)} groups: {kinds}"
    else:
        keys = f"{data.keys:,}" if data.keys is not None else "?"
        size = (
            f"value size {units.format_bytes(data.value_size)}"
            if data.value_size
            else f"used_memory {units.format_bytes(data.used_memory)}"
        )
        shape = f"{keys} keys, {size}"
    return (
        f"profiled {where}: {shape}, "
        f"{scenario.workload.writes_per_sec:,.0f} writes/s, {scenario.workload.reads_per_sec:,.0f} reads/s"
    )
