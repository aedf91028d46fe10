#!/usr/bin/env bash
# The test command: services, environment, lint, then every test against the real
# RabbitMQ, PostgreSQL and ZooKeeper. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { echo "ruff format would change files: run .venv/bin/ruff format ."; exit 1; }
.venv/bin/mypy workerkit
.venv/bin/python -m pytest "$@"
