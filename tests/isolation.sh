#!/usr/bin/env bash
# Isolation tests: PostgreSQL's isolationtester runs real sessions against a real cluster, step
# by step, including steps that wait for another session's lock (specs in tests/isolation/specs,
# expected outputs in tests/isolation/expected): vasscm.claim with two workers (each message
# claimed once, per-container order kept) and the audit sealer against writers (nothing
# skipped or chained out of commit order; the chains verify). A failure prints the difference.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PORT=${ISOLATION_PORT:-55596}
REGRESS="$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/isolation/pg_isolation_regress"
if [ ! -x "$REGRESS" ]; then
    echo "isolation: $REGRESS is missing (Debian package postgresql-server-dev-15)" >&2
    exit 1
fi
OUT="$RUN_DIR/isolation"
rm -rf "$OUT"; mkdir -p "$OUT"; chmod 755 "$RUN_DIR"
fresh_cluster isolation "$PORT"
trap 'stop_cluster isolation' EXIT
# the settings a message needs, for every session isolationtester opens
export PGOPTIONS="-c vasscm.sender_code=CANGTEST -c vasscm.sender_name=Test -c vasscm.receiver_code=03CC"
specs=()
for s in "$ROOT"/tests/isolation/specs/*.spec; do specs+=("$(basename "$s" .spec)"); done
if "$REGRESS" --host=127.0.0.1 --port="$PORT" --user=postgres --dbname=vasscm_isolation --load-extension=vasscm \
       --bindir="$PG_BIN" --inputdir="$ROOT/tests/isolation" --outputdir="$OUT" "${specs[@]}"; then
    echo "isolation: ${#specs[@]} specs passed"
else
    cat "$OUT/regression.diffs" >&2 2>/dev/null || true
    echo "isolation: FAILED (the difference above; outputs in $OUT/output_iso/results)" >&2
    exit 1
fi
