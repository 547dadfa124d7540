"""The outcomes of a simulated backup, in rising severity (no heavy imports: the CLI's help lists them)."""

OUTCOMES = ("ok", "overloaded", "paging", "failed", "oom")
"""ok: demand stayed within node memory and the node served its load; overloaded: memory was fine but
the offered requests exceed what one node serves (clients queue, see ``throughput_ceiling_per_sec``);
paging: demand spilled to swap; failed: the backup failed but the server lives (output buffer
overflow); oom: the kernel killed a process."""
