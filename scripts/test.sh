#!/usr/bin/env bash
# Installs everything, then runs the whole test suite (unit, API over real HTTP, real Redis and worker).
# pytest's own exit codes pass through: "no tests ran" (5) fails like any other failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
