"""The virtualization old ElastiCache node generations ran on, and the platform profile that fits it.

AWS's "Linux AMI virtualization types" page (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/virtualization_types.html,
2015 edition): "Some previous generation instance types, such as T1, C1, M1, and M2 do not support Linux HVM
AMIs" (Xen paravirtual only), "The C3 and M3 current generation instance types support PV AMIs" (both), and
"Some current generation instance types, such as T2, I2, R3, G2, and C4 do not support PV AMIs" (Xen HVM).
Fork on Xen PV copies page tables through the hypervisor: ~240 ms/GB (Redis docs, "Diagnosing latency issues",
https://redis.io/docs/latest/operate/oss_and_stack/management/optimization/latency/ : "Linux VM on EC2, old
instance types (Xen) 6.1GB RSS forked in 1460 milliseconds"), while HVM types fork at ~10 ms/GB like Nitro.
"""

from __future__ import annotations

PV_ONLY = ("m1", "m2", "c1", "t1")
PV_OR_HVM = ("m3",)
VIRTUALIZATION_URL = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/virtualization_types.html"


def family(node_type: str) -> str:
    """``cache.m2.4xlarge`` → ``m2``."""
    parts = node_type.split(".")
    return parts[1] if len(parts) > 2 else ""


def default_platform(node_type: str | None) -> str:
    """The built-in profile for a node type when the scenario names none: ``xen-pv`` for PV-only generations."""
    return "xen-pv" if node_type is not None and family(node_type) in PV_ONLY else "nitro"


def platform_warning(node_type: str | None, platform: str) -> str | None:
    """A warning when the platform profile does not match what the node generation ran on."""
    if node_type is None:
        return None
    fam = family(node_type)
    if fam in PV_ONLY and platform != "xen-pv":
        return (
            f"{node_type} ran on Xen paravirtual (PV) instances only ({VIRTUALIZATION_URL}): fork there costs "
            f"~240 ms/GB; platform {platform} underestimates the stall (use platform: xen-pv)"
        )
    if fam in PV_OR_HVM and platform != "xen-pv":
        return (
            f"{node_type}: EC2 m3 ran as Xen PV or HVM ({VIRTUALIZATION_URL}) and AWS does not say which "
            f"ElastiCache used; platform {platform} assumes HVM (fast fork); platform: xen-pv gives the PV worst case"
        )
    return None
