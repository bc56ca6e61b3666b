#!/usr/bin/env bash
# Install scimtrail with its test dependencies (and PostgreSQL and wrk from Debian when missing), then check
# the import layers, types (mypy --strict) and lint, and run the whole test suite on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "PostgreSQL server binaries are required (Debian: apt-get install postgresql)" >&2
    exit 1
  fi
fi

# The benchmark suite's smoke runs (tests/e2e/test_bench_smoke.py) drive load with wrk.
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "wrk is required by the benchmark smoke tests (Debian: apt-get install wrk)" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[test]"
.venv/bin/lint-imports
.venv/bin/mypy            # strict, on scim_server and audit (pyproject's [tool.mypy])
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
exec .venv/bin/pytest "$@"
