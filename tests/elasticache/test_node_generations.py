"""Old ElastiCache node generations default to the platform they ran on (Xen PV), or warn."""

import pytest

from sim.engine import simulate
from sim.prepare import prepare
from sim.scenario import validate_scenario


def node(node_type, **extra):
    return validate_scenario(
        {
            "node": {"type": node_type},
            "engine": {"version": "2.8.19"},
            "dataset": {"used_memory": "33GiB", "value_size": "2KB"},
            **extra,
        }
    )


@pytest.mark.parametrize("node_type", ["cache.m1.large", "cache.m2.4xlarge", "cache.c1.xlarge", "cache.t1.micro"])
def test_pv_only_generations_default_to_xen_pv(node_type):
    assert node(node_type).platform == "xen-pv"


@pytest.mark.parametrize("node_type", ["cache.m3.large", "cache.r3.large", "cache.r6g.large"])
def test_hvm_capable_generations_keep_nitro(node_type):
    assert node(node_type).platform == "nitro"


def test_m2_4xlarge_stalls_for_seconds_like_the_readme_example():
    r = simulate(node("cache.m2.4xlarge", workload={"reads_per_sec": "40k"}, simulation={"after": "0s"}))
    assert r["fork_stall_s"] > 5.0  # 33 GiB x ~240 ms/GiB (Redis docs: old EC2 Xen 239 ms/GB)


def test_an_old_type_on_a_modern_profile_warns():
    warned = prepare(node("cache.m2.4xlarge", platform="nitro")).warnings
    assert any("Xen paravirtual" in w and "xen-pv" in w for w in warned)
    assert any("m3" in w for w in prepare(node("cache.m3.2xlarge")).warnings)
    assert not any("Xen" in w for w in prepare(node("cache.r6g.4xlarge")).warnings)
