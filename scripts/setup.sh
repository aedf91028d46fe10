#!/usr/bin/env bash
# Services up, a virtual environment in .venv with workerkit and its dev tools, the
# dead-letter table migrated. Idempotent; fast when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.workerkit-installed
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi
mkdir -p var
