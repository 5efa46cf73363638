#!/usr/bin/env bash
# Install the Debian packages tailor's tests need, once (idempotent): headless Chromium; PostgreSQL,
# Redis and HAProxy for several replicas (make demo REPLICAS=2, tests/test_replicas.py; bot/stores.py
# starts them as child processes on loopback, so Debian's own services are stopped after installing).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
# the packages' own services (where an init system started them) would hold the default ports
for svc in postgresql redis-server haproxy; do
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
