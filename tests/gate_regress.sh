#!/usr/bin/env bash
# The golden-output tier of the gate decisions: tests/regress/sql/*.sql run by pg_regress against
# the installed extension, their output compared with tests/regress/expected/*.out — what a gate
# clerk reads (decisions, reasons in Vietnamese and English) is reviewed as text. On a
# difference the diff is printed; GATE_REGRESS_ACCEPT=1 copies the new output over the expected.
# Usage: bash tests/gate_regress.sh [test names...] (default: every tests/regress/sql/*.sql)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PORT=${GATE_REGRESS_PORT:-55570}
REGRESS="$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress"
IN="$ROOT/tests/regress"
OUT="$RUN_DIR/gate-regress"
mkdir -p "$RUN_DIR"; chmod 755 "$RUN_DIR"
rm -rf "$OUT"; mkdir -p "$OUT"; chmod 777 "$OUT"
ln -s "$ROOT/sql/examples" "$OUT/examples"   # the scripts read the shipped TOS examples (\i examples/…)

fresh_cluster gate_regress "$PORT"
trap 'stop_cluster gate_regress' EXIT

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    for f in "$IN"/sql/*.sql; do tests+=("$(basename "$f" .sql)"); done
fi
status=0
(cd "$OUT" && PGUSER=postgres "$REGRESS" --host=127.0.0.1 --port="$PORT" --user=postgres \
    --dbname=vasscm_regress --inputdir="$IN" --outputdir="$OUT" "${tests[@]}") || status=$?
if [ "$status" != 0 ] && [ -f "$OUT/regression.diffs" ]; then
    cat "$OUT/regression.diffs" >&2
    if [ "${GATE_REGRESS_ACCEPT:-}" = 1 ]; then
        for t in "${tests[@]}"; do cp "$OUT/results/$t.out" "$IN/expected/$t.out"; done
        echo "gate_regress: expected output replaced by this run's (review it: git diff tests/regress/expected)" >&2
    fi
fi
if [ "$status" = 0 ]; then echo "gate_regress: ${#tests[@]} passed, 0 failed"; else echo "gate_regress: failed (diffs above)"; fi
exit "$status"
