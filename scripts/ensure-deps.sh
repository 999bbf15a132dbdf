#!/usr/bin/env bash
# ensure-deps.sh installs and starts what the test suite needs on a fresh
# Debian machine: Debian's chromium for the browser test, nginx for the
# test of the load balancer example (test/e2e/nginx.test.mjs runs its own
# nginx processes; the Debian service is not needed), and the local
# PostgreSQL and Redis servers the Go and end-to-end tests talk to. It is
# idempotent and quiet when everything is already there and running. Go
# modules and npm packages are fetched by the Makefile from go.sum and the
# committed package-lock.json files.
#
# The tests use PostgreSQL at 127.0.0.1:5432 as user postgres without a
# password (EVENTIDE_TEST_POSTGRES_URL points them elsewhere; then the local
# server is neither installed nor started).
set -euo pipefail

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
local_pg=""
if [ -z "${EVENTIDE_TEST_POSTGRES_URL:-}" ]; then
  local_pg=yes
  installed_pg=""
  [ -d /etc/postgresql ] && [ -n "$(ls /etc/postgresql 2>/dev/null)" ] || { need+=(postgresql); installed_pg=yes; }
fi
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)

if [ ${#need[@]} -gt 0 ]; then
  echo "ensure-deps: installing ${need[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# nginx: only the binary is used (the test starts its own processes on free
# ports). Its Debian service would start on port 80, and fail the install
# when that port is taken: a policy-rc.d that refuses to start services is
# in place for the install, unless the machine has one already.
if [ ! -x /usr/sbin/nginx ]; then
  echo "ensure-deps: installing nginx with apt-get (its service is not started)"
  [ ${#need[@]} -gt 0 ] || $sudo apt-get update -qq
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx >/dev/null
fi

# wait_for NAME CMD...: runs CMD until it succeeds, for up to 60 s.
wait_for() {
  local name=$1
  shift
  for _ in $(seq 1 120); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  echo "ensure-deps: $name did not answer within 60 s" >&2
  return 1
}

if [ -n "$local_pg" ]; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ -n "${installed_pg:-}" ]; then
    # A fresh Debian cluster asks for passwords over TCP; the tests, like
    # this CI machine's own server, connect from loopback without one.
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    $sudo sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "ensure-deps: starting PostgreSQL $version"
    $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
  elif [ -n "${installed_pg:-}" ]; then
    $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  fi
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
  echo "ensure-deps: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
  wait_for Redis sh -c 'redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG'
fi
