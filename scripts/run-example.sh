#!/usr/bin/env bash
# The main job: the orders.delay-notice example worker on the embedded defaults (SQLite
# dead-letter table), a local notification endpoint, and a burst of sample orders.
# Ctrl-C stops the worker gracefully; the notifier stops with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/workerkit db upgrade >/dev/null 2>&1 || true
notifier="" worker="" stopping=""
cleanup() { # once: a second TERM would make the worker exit without its grace period
  [ -n "$stopping" ] && return; stopping=1
  [ -n "$worker" ] && kill -TERM "$worker" 2>/dev/null && wait "$worker" 2>/dev/null
  [ -n "$notifier" ] && kill "$notifier" 2>/dev/null
  return 0
}
trap cleanup EXIT INT TERM
.venv/bin/python -m workers.notifier &
notifier=$!
.venv/bin/workerkit run workers.orders:app &
worker=$!
# publish once the worker has declared its queue
for _ in $(seq 1 100); do
  if .venv/bin/python -m workers.publish_orders --count "${ORDERS:-200}" 2>/dev/null; then break; fi
  sleep 0.2
done
wait $worker
