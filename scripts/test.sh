#!/usr/bin/env bash
# Installs everything, then runs the whole test suite (unit, API over real HTTP, real Redis and worker).
# pytest's own exit codes pass through: "no tests ran" (5) fails like any other failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# two workers: much of the suite waits on real processes and sockets, so two share the 2 cores well
# (570 s one at a time, 414 s on two); work stealing keeps one long training test from ending the run alone
# (539 s against 604-655 s on an AVX2-only machine); `-n 0` after it runs one at a time again
exec .venv/bin/python -m pytest -n 2 --dist worksteal "$@"
