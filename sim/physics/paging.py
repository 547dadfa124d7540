"""What swapping costs: major faults on swapped pages and reclaim on the write path.

With swap allowed, demand above the memory limit is paged out. Linux reclaims anonymous pages
of the cgroup from its LRU lists; rbsim assumes the pages out are spread over the node's memory
(``out_share = swapped / demand``), so any page a request or the save touches is out with that
chance. Three costs follow (fault and page-out times are platform-profile figures, calibrated on
harness runs with swap):

* a request touching a swapped page waits for a major fault (``fault_us``);
* every page copied on write while the node is over its limit first needs a page written out
  (direct reclaim in the writing thread, ``page_out_us``);
* the save child reads every key's pages, and faults on the swapped ones.

Slower service lowers the served write rate, which slows copy-on-write growth, while the slower
save lets it run longer: the engine integrates that feedback step by step.
"""

from __future__ import annotations


def out_share(swapped: float, demand: float) -> float:
    """Share of the node's pages that are in swap."""
    return 0.0 if demand <= 0 else min(1.0, max(0.0, swapped / demand))


def request_service_s(base_s: float, share_out: float, pages_per_request: float, fault_s: float) -> float:
    """Mean service time of a request that touches ``pages_per_request`` pages."""
    return base_s + pages_per_request * share_out * fault_s


def reclaim_s_per_write(new_pages_per_write: float, page_out_s: float) -> float:
    """Main-thread time per write spent writing a page out for each page it copies."""
    return new_pages_per_write * page_out_s


def save_s_per_key(share_out: float, pages_per_key: float, fault_s: float) -> float:
    """Extra save time per key for faulting its swapped pages back in."""
    return share_out * pages_per_key * fault_s
