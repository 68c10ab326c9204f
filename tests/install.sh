#!/usr/bin/env bash
# Production install (scripts/install) into a scratch prefix: binaries, documented
# configurations, systemd units, the extension created in a database with a worker login
# role; a second run keeps the configuration an operator edited and changes nothing else.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PORT=${E2E_PORT:?}
D="$RUN_DIR/install-test"
DB=install_test
rm -rf "$D"; mkdir -p "$D"
psql_at "$PORT" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
psql_at "$PORT" -qc "DROP ROLE IF EXISTS vasscm_worker_svc" >/dev/null 2>&1 || true
args=(--prefix "$D/usr" --etc "$D/etc" --systemd-dir "$D/systemd" --no-user --database "$DB" --pg-host 127.0.0.1 --pg-port "$PORT")
chk() { check "$1" "$PORT" "$DB" "$2"; }
yes_if() { if eval "$1"; then echo true; else echo false; fi; }

if bash "$ROOT/scripts/install" "${args[@]}" > "$D/first.log" 2>&1; then ok=true; else ok=false; tail -20 "$D/first.log" >&2; fi
chk "scripts/install ran" "SELECT $ok"
usage=$("$D/usr/bin/vasscm-worker" 2>&1 || true)
chk "binaries installed and runnable" "SELECT $(yes_if '[ -x "$D/usr/bin/vasscm-customs-sim" ] && grep -q "run|check|sign" <<<"$usage"')"
chk "example configurations in place, readable by the group only" \
  "SELECT $(yes_if '[ "$(stat -c %a "$D/etc/worker.toml")" = 640 ] && grep -q "\[metrics\]" "$D/etc/worker.toml" && [ "$(stat -c %a "$D/etc/worker.env")" = 600 ] && grep -q "^listen" "$D/etc/customs-sim.toml"')"
checked=$("$D/usr/bin/vasscm-worker" check --config "$D/etc/worker.toml" 2>&1 || true)
chk "the installed configuration parses: check stops only at the placeholder PKCS#11 module" \
  "SELECT $(yes_if 'grep -q "cannot load the PKCS#11 module" <<<"$checked" && ! grep -q "invalid configuration" <<<"$checked"')"
chk "systemd unit points at the installed binary and configuration" \
  "SELECT $(yes_if 'grep -q "^ExecStart=$D/usr/bin/vasscm-worker run --config $D/etc/worker.toml$" "$D/systemd/vasscm-worker.service" && grep -q "^EnvironmentFile=-$D/etc/worker.env$" "$D/systemd/vasscm-worker.service"')"
chk "the extension is installed at the current version" \
  "SELECT extversion = '$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)' FROM pg_extension WHERE extname = 'vasscm'"
chk "the worker's login role holds vasscm_worker" "SELECT pg_has_role('vasscm_worker_svc', 'vasscm_worker', 'MEMBER')"
echo '# edited by the operator' >> "$D/etc/worker.toml"
if bash "$ROOT/scripts/install" "${args[@]}" > "$D/second.log" 2>&1; then ok=true; else ok=false; tail -20 "$D/second.log" >&2; fi
chk "a second run succeeds" "SELECT $ok"
chk "... and keeps the edited configuration" "SELECT $(yes_if 'tail -1 "$D/etc/worker.toml" | grep -q "edited by the operator" && grep -q "kept $D/etc/worker.toml" "$D/second.log"')"
finish install
