#!/usr/bin/env bash
# Runs the node's tests and the end-to-end tests on PostgreSQL: every test gets its own
# fresh database on the server in FEDERATION_TEST_DATABASE (default: 127.0.0.1:5432, user
# postgres, trust authentication). If nothing answers there, PostgreSQL is installed
# from Debian's packages and started. Never skipped: no server, no green run.
set -euo pipefail
cd "$(dirname "$0")/.."
export FEDERATION_TEST_DATABASE="${FEDERATION_TEST_DATABASE:-postgres://postgres@127.0.0.1:5432}"
# libpq without TLS to this loopback test server (libpq reads PGSSLMODE). With TLS, libpq
# brings in OpenSSL, whose exit handler (OPENSSL_cleanup, registered with atexit) can run
# while a connection pool's worker thread of a test's in-process node is still connecting:
# a test binary then dies with SIGSEGV after every test passed (seen once in CI, in
# `cohort`; diesel-rs/diesel#3441, sfackler/r2d2#137). Trust authentication over loopback
# needs no TLS, so libpq never initialises OpenSSL here.
export PGSSLMODE="${PGSSLMODE:-disable}"

reachable() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }

if ! reachable; then
    echo "no PostgreSQL on 127.0.0.1:5432: installing and starting Debian's"
    command -v pg_lsclusters >/dev/null || { apt-get update && apt-get install -y postgresql; }
    while read -r version cluster _; do
        hba="/etc/postgresql/$version/$cluster/pg_hba.conf"
        # Local test server: the postgres role over TCP from this machine, no password.
        grep -q '^host all postgres 127.0.0.1/32 trust' "$hba" ||
            sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
        pg_ctlcluster "$version" "$cluster" start || pg_ctlcluster "$version" "$cluster" reload
    done < <(pg_lsclusters --no-header)
    for _ in $(seq 1 30); do reachable && break; sleep 1; done
    reachable || { echo "PostgreSQL did not start on 127.0.0.1:5432"; exit 1; }
fi

cargo test --locked -p agency-node -p federation-tests
