#!/usr/bin/env bash
# The test command of the README (and of CI): set up .venv/ if needed, lint, then run the whole test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh test/unit -k parse
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
