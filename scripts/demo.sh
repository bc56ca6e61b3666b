#!/usr/bin/env bash
# Install scimtrail into ./.venv and start it on embedded SQLite with a demo organisation.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/scimtrail serve --demo "$@"
