"""Platform profiles: the machine-dependent costs of a backup (fork, save, memory, latency).

A profile is a small YAML file. Built-in ones live in ``sim/platforms/`` (``nitro``,
``xen-pv``, ``lab``); a scenario may also name a profile file of its own, for instance
one written by ``rbsim calibrate``.
"""

from __future__ import annotations

import difflib
import os
from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .fieldtypes import Size
from .inputs import FileReadError, InputError, YamlError, cut, load_yaml, read_text, shown


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ForkCost(_Section):
    """Fork stall = base_ms + ms_per_gib x parent RSS in GiB; main-thread time per page copied on write."""

    base_ms: float = Field(ge=0)
    ms_per_gib: float = Field(ge=0)
    cow_fault_us: float = Field(ge=0)
    huge_cow_fault_us: float = Field(ge=0)


class SaveCost(_Section):
    """Serialization cost: per key, per stored byte, per byte LZF scans, and each usleep()'s overshoot."""

    us_per_key: float = Field(ge=0)
    write_bytes_per_sec: Size
    lzf_random_bytes_per_sec: Size
    lzf_repetitive_bytes_per_sec: Size
    delay_overhead_us: float = Field(ge=0)


class MemoryShape(_Section):
    """RSS of an empty server and RSS / used_memory of a loaded one."""

    rss_base: Size
    fragmentation: float = Field(ge=1.0, le=3.0)


class CowExtras(_Section):
    """Copy-on-write that does not come from keys: the child's buffers and pages the parent always touches."""

    child_base: Size
    parent_base: Size


class LatencyCost(_Section):
    """Mean service time of one simple command on the main thread."""

    service_us: float = Field(gt=0)


class PagingCost(_Section):
    """Major-fault time per swapped page read back, and reclaim time per page written out."""

    fault_us: float = Field(ge=0)
    page_out_us: float = Field(ge=0)


class ForklessDesign(_Section):
    """Assumed shape of the forkless backup (see sim/physics/forkless.py)."""

    min_share: float = Field(gt=0, le=1)
    main_thread_share: float = Field(ge=0, le=1)
    clone_max_value: Size
    clone_pool: Size
    auto_threshold: float = Field(ge=0, le=1)


class CpuShape(_Section):
    """Cores the node has, and CPU the clients burn on the same machine per request (0 when remote)."""

    cores: float = Field(gt=0)
    client_us_per_request: float = Field(ge=0)


class RestoreCost(_Section):
    """RDB load cost (CPU per key, per value byte, per decompressed LZF byte), the loader's extra memory,
    and the network bandwidth a replica's full sync streams at."""

    us_per_key: float = Field(ge=0)
    value_bytes_per_sec: Size
    lzf_bytes_per_sec: Size
    peak_extra: Size
    network_bytes_per_sec: Size
    first_touch_us_per_page: float = Field(default=0.0, ge=0)
    """Extra CPU per page of the loaded dataset on a VM that hands freed pages back to its host (virtio
    balloon free page reporting): a page first touched since then costs a host fault. 0 on a dedicated node."""


class Platform(BaseModel):
    """A platform profile (see module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    description: str = ""
    fork: ForkCost
    save: SaveCost
    memory: MemoryShape
    cow: CowExtras
    latency: LatencyCost
    paging: PagingCost
    forkless: ForklessDesign
    cpu: CpuShape
    restore: RestoreCost | None = None
    calibration: dict | None = None

    def restore_cost(self) -> RestoreCost:
        """The restore costs of a platform that must have them (PlatformError naming it otherwise)."""
        if self.restore is None:
            raise PlatformError(f"platform {self.name} has no restore: costs")
        return self.restore


class PlatformError(InputError):
    """A platform name or profile file that cannot be used."""


def builtin_platforms() -> list[str]:
    """Names of the profiles shipped in the package."""
    folder = resources.files("sim") / "platforms"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_platform(name_or_path: str, relative_to: Path | None = None) -> Platform:
    """A built-in profile by name, or a profile YAML file by path."""
    if name_or_path in builtin_platforms():
        return _builtin(name_or_path)
    candidates = [Path(name_or_path)]
    if relative_to is not None and not Path(name_or_path).is_absolute():
        candidates.insert(0, relative_to / name_or_path)
    for path in candidates:
        if os.path.exists(path):  # False too for names the system cannot look up
            try:
                return _read(read_text(path), str(path))
            except FileReadError as exc:
                raise PlatformError(str(exc)) from None
    message = (
        f"unknown platform {shown(name_or_path)}: "
        f"not a built-in profile ({', '.join(builtin_platforms())}) nor a profile file"
    )
    close = difflib.get_close_matches(name_or_path, builtin_platforms(), n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    raise PlatformError(message)


@cache
def _builtin(name: str) -> Platform:
    text = (resources.files("sim") / "platforms" / f"{name}.yaml").read_text()
    return _read(text, f"built-in profile {name}")


def _read(text: str, source: str) -> Platform:
    try:
        data, _ = load_yaml(text, source)
        return Platform.model_validate(data)
    except YamlError as exc:
        raise PlatformError(str(exc)) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            + (f" (got {shown(e['input'])})" if e["type"] != "missing" and "input" in e else "")
            for e in exc.errors()[:5]
        )
        raise PlatformError(cut(f"{source}: not a valid platform profile: {problems}")) from None
