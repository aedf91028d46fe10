#!/usr/bin/env bash
# Make RabbitMQ, PostgreSQL and ZooKeeper answer on 127.0.0.1: install from Debian's packages
# what is missing, start what is stopped, wait until each answers. Idempotent; a few seconds
# when everything is already up. Never stops anything.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # name port seconds
  local i
  for ((i = 0; i < $3 * 4; i++)); do port_open "$2" && return 0; sleep 0.25; done
  log "$1 did not answer on 127.0.0.1:$2 within $3 s"; return 1
}

apt_updated=0
need_pkg() { # package...
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated -eq 0 ]; then apt-get update -qq; apt_updated=1; fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# RabbitMQ
if ! port_open 5672; then
  command -v rabbitmq-server >/dev/null || need_pkg rabbitmq-server
  log "starting RabbitMQ"
  rabbitmq-server -detached
fi
wait_port RabbitMQ 5672 90
# the broker accepts TCP before it finishes booting: wait for the app itself
for _ in $(seq 1 120); do rabbitmqctl -q await_startup >/dev/null 2>&1 && break; sleep 0.5; done

# PostgreSQL
if ! port_open 5432; then
  command -v pg_ctlcluster >/dev/null || need_pkg postgresql
  ver=$(ls /etc/postgresql | sort -V | tail -n 1)
  log "starting PostgreSQL $ver"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start
fi
wait_port PostgreSQL 5432 60
# the tests' database; trust auth on 127.0.0.1 is the machine's default
if ! psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='test'" 2>/dev/null | grep -q 1; then
  psql -h 127.0.0.1 -U postgres -qc "create database test" >/dev/null 2>&1 || true
fi

# ZooKeeper (Debian's zookeeper package; Java is present)
if ! port_open 2181; then
  [ -x /usr/share/zookeeper/bin/zkServer.sh ] || need_pkg zookeeper
  log "starting ZooKeeper"
  mkdir -p /var/lib/zookeeper /var/log/zookeeper
  ZOO_LOG_DIR=/var/log/zookeeper /usr/share/zookeeper/bin/zkServer.sh start >/dev/null
fi
wait_port ZooKeeper 2181 60
log "RabbitMQ :5672, PostgreSQL :5432, ZooKeeper :2181 are up"
