#!/usr/bin/env bash
# The main job: the orders.delay-notice example worker on the embedded defaults (SQLite
# dead-letter table), a local notification endpoint, and a burst of sample orders.
# Ctrl-C stops the worker gracefully; the notifier stops with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/workerkit db upgrade >/dev/null 2>&1 || true
.venv/bin/python -m workers.notifier &
notifier=$!
trap 'kill $notifier 2>/dev/null || true' EXIT
.venv/bin/workerkit run workers.orders:app &
worker=$!
trap 'kill -TERM $worker 2>/dev/null || true; wait $worker 2>/dev/null || true; kill $notifier 2>/dev/null || true' EXIT INT TERM
# publish once the worker has declared its queue
for _ in $(seq 1 100); do
  if .venv/bin/python -m workers.publish_orders --count "${ORDERS:-200}" 2>/dev/null; then break; fi
  sleep 0.2
done
wait $worker
