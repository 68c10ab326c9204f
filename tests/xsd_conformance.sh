#!/usr/bin/env bash
# Every message type of the active catalogue: build its sample, validate it with vasscm, and
# have xmllint (libxml2, an independent validator) check it against vasscm.message_xsd().
# Then checks that the schema is not vacuous: without its first mandatory element, each sample
# must be refused by xmllint.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
PORT=${E2E_PORT:?}
DB=vasscm_e2e
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

psql_at "$PORT" -d "$DB" -qc "CREATE EXTENSION IF NOT EXISTS vasscm" \
    -c "ALTER DATABASE $DB SET vasscm.sender_code = 'CANGTEST'" -c "ALTER DATABASE $DB SET vasscm.receiver_code = '03CC'" -c "ALTER DATABASE $DB SET vasscm.sender_name = 'Cảng thử nghiệm'" >/dev/null

passed=0; failed=0
codes=$(psql_at "$PORT" -d "$DB" -Atc "SELECT code FROM vasscm.message_types ORDER BY code")
for code in $codes; do
    psql_at "$PORT" -d "$DB" -Atc "SELECT vasscm.message_xsd('$code')" > "$work/$code.xsd"
    psql_at "$PORT" -d "$DB" -Atc "SELECT vasscm.build_message(code, example) FROM vasscm.catalogue_message
                                    WHERE code = '$code' AND version = (SELECT version FROM vasscm.catalogue WHERE active)" > "$work/$code.xml"
    problems=$(echo "SELECT count(*) FROM vasscm.validate_message(:'xml')" | psql_at "$PORT" -d "$DB" -At -v xml="$(cat "$work/$code.xml")")
    if [ "$problems" = 0 ] && xmllint --noout --schema "$work/$code.xsd" "$work/$code.xml" 2>"$work/$code.err"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1)); echo "message $code: vasscm problems=$problems; xmllint: $(cat "$work/$code.err")" >&2
    fi
    # The schema must also refuse: drop the first mandatory Data element and expect a refusal.
    first=$(psql_at "$PORT" -d "$DB" -Atc "SELECT element FROM vasscm.catalogue_field
              WHERE message_code = '$code' AND mandatory AND position(\$\$/\$\$ in path) = 0
                AND version = (SELECT version FROM vasscm.catalogue WHERE active) ORDER BY position LIMIT 1")
    if [ -n "$first" ]; then
        sed -E "s#<$first>.*</$first>##; s#<$first>([^<]*)</$first>##" "$work/$code.xml" > "$work/$code.broken.xml"
        if xmllint --noout --schema "$work/$code.xsd" "$work/$code.broken.xml" 2>/dev/null; then
            failed=$((failed + 1)); echo "message $code: xmllint accepted a message without $first" >&2
        else
            passed=$((passed + 1))
        fi
    fi
done
echo "xsd conformance: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -ge 32 ]
