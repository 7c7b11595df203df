#!/usr/bin/env bash
# make e2e: the deployment of deploy/ from a wheel, on loopback, tested over https (e2e/*.py).
# Needs PostgreSQL on 127.0.0.1:5432 (superuser postgres), Redis on 127.0.0.1:6379, Debian's
# nginx (installed here when missing) and chromium; about 3 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq nginx >/dev/null
fi

ARTIFACTS=test-artifacts/e2e
rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"
WORK="$(mktemp -d /tmp/pro-e2e.XXXXXX)"

# The driver stops everything it started; this is for a driver that was itself killed.
cleanup() {
    status=$?
    if [ -f "$WORK/run/pids" ]; then
        while read -r pid; do
            # Only our own processes: a pid may have been reused since.
            if grep -qs "$WORK" "/proc/$pid/cmdline"; then kill -TERM -- "-$pid" 2>/dev/null || true; fi
        done < "$WORK/run/pids"
    fi
    if [ -f "$WORK/run/cleanup.sql" ]; then
        psql -q -h 127.0.0.1 -U postgres -d postgres -f "$WORK/run/cleanup.sql" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT

# The wheel is built from this checkout and installed into $WORK/venv by e2e/conftest.py.
PRO_E2E_WORK="$WORK" .venv/bin/python -m pytest e2e -x -p no:cacheprovider -o testpaths=e2e \
    --junitxml="$ARTIFACTS/junit.xml" "$@"
