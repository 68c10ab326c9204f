#!/usr/bin/env bash
# Helpers for the end-to-end tests: checks that count passes and failures, and waiting. Every
# failure says what was expected and what came: the SQL, its answer, and on request what the
# data looked like.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

PASSED=0
FAILED=0

# one_line TEXT: TEXT with its whitespace runs (newlines included) made single spaces.
one_line() { printf '%s' "$1" | tr -s ' \n\t' '   '; }

# check DESCRIPTION PORT DB SQL [SHOW-SQL]: the SQL must return 't'. A failure prints the SQL
# (what was expected: it is true), what it returned instead (or the error), and the rows of
# SHOW-SQL when given (what the data looked like, e.g. the statuses and counts the check is
# about).
check() {
    local what=$1 port=$2 db=$3 sql=$4 show=${5:-} got
    got=$(psql_at "$port" -d "$db" -Atc "$sql" 2>&1 || true)
    if [ "$got" = "t" ]; then
        PASSED=$((PASSED + 1)); echo "  ok   $what"
    else
        FAILED=$((FAILED + 1))
        {
            echo "  FAIL $what"
            echo "       expected true: $(one_line "$sql")"
            echo "       got:           $(printf '%s' "${got:-(no row, or NULL)}" | sed '2,$s/^/                      /')"
            if [ -n "$show" ]; then
                echo "       data:          $(one_line "$show")"
                psql_at "$port" -d "$db" -c "$show" 2>&1 | sed 's/^/         /' | head -40
            fi
        } >&2
    fi
}

# check_eq DESCRIPTION PORT DB SQL EXPECTED: the SQL must return exactly EXPECTED (rows joined
# by newlines, columns by |, as psql -At prints them); a failure prints both.
check_eq() {
    local what=$1 port=$2 db=$3 sql=$4 want=$5 got
    got=$(psql_at "$port" -d "$db" -Atc "$sql" 2>&1 || true)
    if [ "$got" = "$want" ]; then
        PASSED=$((PASSED + 1)); echo "  ok   $what"
    else
        FAILED=$((FAILED + 1))
        {
            echo "  FAIL $what"
            echo "       SQL:      $(one_line "$sql")"
            echo "       expected: $(one_line "$want")"
            echo "       got:      $(one_line "${got:-(no row, or NULL)}")"
        } >&2
    fi
}

# wait_until PORT DB SQL [SECONDS]: polls until the SQL returns 't' (default 60 s). On timeout
# it says what it waited for and what the SQL returned last.
wait_until() {
    local port=$1 db=$2 sql=$3 limit=${4:-60} i=0 got
    while got=$(psql_at "$port" -d "$db" -Atc "$sql" 2>&1 || true); [ "$got" != "t" ]; do
        i=$((i + 1))
        if [ "$i" -gt $((limit * 5)) ]; then
            echo "  timed out after ${limit}s waiting for: $(one_line "$sql") (last answer: ${got:-none})" >&2
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
