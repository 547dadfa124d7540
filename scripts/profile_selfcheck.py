"""The profile's self-check on a live typed cache: fill a typed scenario's groups into a real redis-server
(a memory cgroup), drive its write mix, BGSAVE, wait, then run ``rbsim profile`` on the server and print its
self-check (predicted copy-on-write beside the server's last save). Needs root (memory cgroups).

    .venv/bin/python scripts/profile_selfcheck.py reports/validation/typed-scenarios/t27-mixed-cache.yaml [WAIT_S]

``WAIT_S`` (default 20) seconds pass between the save and the profile: right after a save the keys' LRU clock
has been frozen, so the profile cannot fit hot keys and says so (README, "Start from your real deployment").
"""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import ExitStack

from sim.harness.cgroup import MemoryCgroup
from sim.harness.run import fill_typed, plan_run, write_load
from sim.harness.server import RedisServer
from sim.scenario import load_scenario


def main() -> None:
    scenario = load_scenario(sys.argv[1])
    wait_s = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    plan = plan_run(scenario)
    if plan.typed is None:
        sys.exit(f"{sys.argv[1]}: not a typed scenario (no dataset.groups, mix or engine.parameters)")
    with ExitStack() as stack:
        cgroup = stack.enter_context(MemoryCgroup(4 << 30, 0))
        server = stack.enter_context(RedisServer(cgroup, "/usr/bin/redis-server", **plan.server_settings()))
        fill_typed(server, plan.typed, time.monotonic() + 300)
        client = server.client()
        print(f"filled: used_memory {client.info('memory')['used_memory'] >> 20} MiB", flush=True)
        load = write_load(plan, server)
        load.start()
        stack.callback(load.stop)
        time.sleep(3)
        client.config_set("rdb-key-save-delay", str(scenario.backup.rdb_key_save_delay_us))
        client.bgsave()
        time.sleep(0.5)
        while client.info("persistence")["rdb_bgsave_in_progress"]:
            time.sleep(0.2)
        client.config_set("rdb-key-save-delay", "0")
        saved = client.info("persistence")
        print(f"save {saved['rdb_last_bgsave_time_sec']} s, copy-on-write {saved['rdb_last_cow_size'] >> 20} MiB")
        time.sleep(wait_s)
        url = f"redis://127.0.0.1:{server.listening_port}"
        argv = [sys.executable, "-m", "sim.cli", "profile", url, "--window", "5s", "--platform", "lab"]
        out = subprocess.run([*argv, "--memory", "2GiB", "-o", "/dev/null"], capture_output=True, text=True)
        print(out.stdout, out.stderr, sep="")


if __name__ == "__main__":
    main()
