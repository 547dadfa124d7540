#!/bin/sh
# Re-run the whole restore validation set (root, memory cgroups, ~14 GiB free memory, ~15 GB free in /tmp):
# 16 real restores one after another at nice 0, records into reports/validation/restore-records, then the
# held-out scores into reports/validation/restore-report. Extra arguments go to `rbsim harness`
# (e.g. --quiet-wait 0 on a machine you know is quiet, --label TEXT).
set -e
cd "$(dirname "$0")/../.."
nice -n 0 .venv/bin/rbsim harness reports/validation/restore-scenarios/*.yaml \
    --out reports/validation/restore-records "$@"
.venv/bin/rbsim validate-restore reports/validation/restore-records --out reports/validation/restore-report
