#!/usr/bin/env bash
# The test command: services, environment, lint, then every test against the real
# RabbitMQ, PostgreSQL and ZooKeeper. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
