#!/usr/bin/env bash
# ensure-deps.sh installs what the test suite needs on a fresh Debian machine:
# Debian's chromium for the browser test. It is idempotent and quiet when
# everything is already there. Go modules and npm packages are fetched by
# the Makefile from go.sum and the committed package-lock.json files.
set -euo pipefail

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
command -v curl >/dev/null 2>&1 || need+=(curl)

if [ ${#need[@]} -gt 0 ]; then
  echo "ensure-deps: installing ${need[*]} with apt-get"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
