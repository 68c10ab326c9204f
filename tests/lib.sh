#!/usr/bin/env bash
# Helpers for the end-to-end tests: checks that count passes and failures, and waiting.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

PASSED=0
FAILED=0

# check DESCRIPTION PORT DB SQL: the SQL must return 't'.
check() {
    local what=$1 port=$2 db=$3 sql=$4 got
    got=$(psql_at "$port" -d "$db" -Atc "$sql" 2>&1 || true)
    if [ "$got" = "t" ]; then
        PASSED=$((PASSED + 1)); echo "  ok   $what"
    else
        FAILED=$((FAILED + 1)); echo "  FAIL $what (got: $got)" >&2
    fi
}

# wait_until PORT DB SQL [SECONDS]: polls until the SQL returns 't' (default 60 s).
wait_until() {
    local port=$1 db=$2 sql=$3 limit=${4:-60} i=0
    while [ "$(psql_at "$port" -d "$db" -Atc "$sql" 2>/dev/null || true)" != "t" ]; do
        i=$((i + 1))
        if [ "$i" -gt $((limit * 5)) ]; then
            echo "  timed out after ${limit}s waiting for: $sql" >&2
            return 1
        fi
        sleep 0.2
    done
}

# finish NAME: prints the closing line and fails when anything failed.
finish() {
    echo "$1: $PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ]
}

# create_vasscm PORT DB: CREATE EXTENSION vasscm, or, with VASSCM_UPGRADE_FROM=A, create it at
# version A and upgrade it to the current version (the suites then run on an upgraded database).
create_vasscm() {
    if [ -n "${VASSCM_UPGRADE_FROM:-}" ]; then
        psql_at "$1" -d "$2" -qc "CREATE EXTENSION vasscm VERSION '$VASSCM_UPGRADE_FROM'" -c "ALTER EXTENSION vasscm UPDATE"
    else
        psql_at "$1" -d "$2" -qc "CREATE EXTENSION vasscm"
    fi
}
