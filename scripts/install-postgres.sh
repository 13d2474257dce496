#!/usr/bin/env bash
# Installs the PostgreSQL server binaries the integration tests need
# (tests/common/pg.rs starts throw-away clusters from them). Idempotent:
# does nothing if /usr/lib/postgresql/*/bin/pg_ctl already exists.
# Debian/Ubuntu only; run as root (or with sudo available).
# Also makes sure iproute2's `ip` is there: tests/multi_host.rs builds its
# "machines" as network namespaces with it.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

if compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" > /dev/null; then
    echo "PostgreSQL server binaries already installed:" /usr/lib/postgresql/*/bin/pg_ctl
else
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends postgresql
fi

# The tests run the server as the `postgres` OS user when they run as root
# (initdb refuses root). The Debian package creates it; make sure it exists.
if ! id -u postgres > /dev/null 2>&1; then
    $SUDO useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

# The Debian package may start a default cluster; the tests do not need it.
if command -v pg_lsclusters > /dev/null 2>&1 && pg_lsclusters -h 2>/dev/null | grep -q online; then
    echo "note: a system PostgreSQL cluster is running; the tests use their own clusters on free ports"
fi
echo "ok: $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"

if ! command -v ip > /dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends iproute2
fi
