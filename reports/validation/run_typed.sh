#!/bin/sh
# Run the whole typed validation set (root, memory cgroups, ~2 GiB free memory): 29 real backups of typed key
# groups (reports/validation/typed-scenarios, written by make_typed_scenarios.py) one after another at nice 0,
# one record each into reports/validation/typed-records. About 15-20 minutes on a quiet machine (fills of
# 1-50 s, saves of ~6-11 s). It first waits up to 10 minutes for the machine to be quiet (CPUs >= 90 % idle
# over 5 s) and stops if it is not: timings taken next to other work are not worth keeping (README.md, "The
# set"). Extra arguments go to `rbsim harness` (e.g. --label TEXT, --repeat 2, --quiet-wait 0 to skip the
# per-run wait).
set -e
cd "$(dirname "$0")/../.."
.venv/bin/python - <<'PY'
import sys, time
from sim.harness.quiet import cpu_idle_share

end = time.monotonic() + 600
while True:
    idle = cpu_idle_share(5.0)
    if idle >= 0.9:
        print(f"run_typed.sh: machine quiet ({idle:.0%} idle); starting", flush=True)
        break
    if time.monotonic() > end:
        sys.exit(f"run_typed.sh: the machine stayed busy ({idle:.0%} idle) for 10 minutes; not running the set")
    print(f"run_typed.sh: waiting for a quiet machine ({idle:.0%} idle)", flush=True)
PY
nice -n 0 .venv/bin/rbsim harness reports/validation/typed-scenarios/t*.yaml \
    --out reports/validation/typed-records "$@"
