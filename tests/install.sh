#!/usr/bin/env bash
# Production install (scripts/install): the vasscm-pg15 package installed with dpkg -i (root, as
# on the test machine) — binaries in /usr/bin, the extension and every SQL script in PostgreSQL's
# directories, the package's units —, documented configurations in a scratch --etc with units
# rendered for it, the extension created in a database with a worker login role; a second run
# keeps the configuration an operator edited. Then --prefix: the package unpacked under a
# scratch directory, nothing registered with dpkg and PostgreSQL's directories untouched.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PORT=${E2E_PORT:?}
D="$RUN_DIR/install-test"
DB=install_test
NEW=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
PKGLIB=$("$PG_CONFIG" --pkglibdir)
EXTDIR=$("$PG_CONFIG" --sharedir)/extension
rm -rf "$D"; mkdir -p "$D"
psql_at "$PORT" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
psql_at "$PORT" -qc "DROP ROLE IF EXISTS vasscm_worker_svc" >/dev/null 2>&1 || true
args=(--etc "$D/etc" --systemd-dir "$D/systemd" --no-user --database "$DB" --pg-host 127.0.0.1 --pg-port "$PORT")
chk() { check "$1" "$PORT" "$DB" "$2"; }
yes_if() { if eval "$1"; then echo true; else echo false; fi; }

if bash "$ROOT/scripts/install" "${args[@]}" > "$D/first.log" 2>&1; then ok=true; else ok=false; tail -20 "$D/first.log" >&2; fi
chk "scripts/install ran" "SELECT $ok"
chk "vasscm-pg15 $NEW is installed in dpkg's database, its files as packaged (dpkg -V)" \
  "SELECT $(yes_if '[ "$(dpkg-query -W -f="\${Status} \${Version}" vasscm-pg15)" = "install ok installed $NEW" ] && [ -z "$(dpkg -V vasscm-pg15)" ]')"
chk "dpkg owns the binaries, the extension and the units" \
  "SELECT $(yes_if 'dpkg -S /usr/bin/vasscm-worker /usr/bin/vasscm-customs-sim "$PKGLIB/vasscm.so" "$EXTDIR/vasscm--$NEW.sql" /lib/systemd/system/vasscm-worker.service >/dev/null')"
chk "every migrations/vasscm--*.sql is installed as is" \
  "SELECT $(yes_if 'for f in "$ROOT"/migrations/vasscm--*.sql; do cmp -s "$f" "$EXTDIR/$(basename "$f")" || exit 1; done')"
usage=$(/usr/bin/vasscm-worker 2>&1 || true)
chk "binaries installed and runnable" "SELECT $(yes_if '[ -x /usr/bin/vasscm-customs-sim ] && grep -q "run|check|sign" <<<"$usage"')"
chk "example configurations in place, readable by the group only" \
  "SELECT $(yes_if '[ "$(stat -c %a "$D/etc/worker.toml")" = 640 ] && grep -q "\[metrics\]" "$D/etc/worker.toml" && [ "$(stat -c %a "$D/etc/worker.env")" = 600 ] && grep -q "^listen" "$D/etc/customs-sim.toml"')"
checked=$(/usr/bin/vasscm-worker check --config "$D/etc/worker.toml" 2>&1 || true)
chk "the installed configuration parses: check stops only at the placeholder PKCS#11 module" \
  "SELECT $(yes_if 'grep -q "cannot load the PKCS#11 module" <<<"$checked" && ! grep -q "invalid configuration" <<<"$checked"')"
chk "systemd unit rendered for --etc points at the packaged binary and that configuration" \
  "SELECT $(yes_if 'grep -q "^ExecStart=/usr/bin/vasscm-worker run --config $D/etc/worker.toml$" "$D/systemd/vasscm-worker.service" && grep -q "^EnvironmentFile=-$D/etc/worker.env$" "$D/systemd/vasscm-worker.service"')"
chk "the package's own unit points at /usr/bin and /etc/vasscm" \
  "SELECT $(yes_if 'grep -q "^ExecStart=/usr/bin/vasscm-worker run --config /etc/vasscm/worker.toml$" /lib/systemd/system/vasscm-worker.service')"
chk "the extension is installed at the current version" \
  "SELECT extversion = '$NEW' FROM pg_extension WHERE extname = 'vasscm'"
chk "the worker's login role holds vasscm_worker" "SELECT pg_has_role('vasscm_worker_svc', 'vasscm_worker', 'MEMBER')"
echo '# edited by the operator' >> "$D/etc/worker.toml"
if bash "$ROOT/scripts/install" "${args[@]}" > "$D/second.log" 2>&1; then ok=true; else ok=false; tail -20 "$D/second.log" >&2; fi
chk "a second run succeeds, reusing the package built by the first" "SELECT $ok AND $(yes_if 'grep -q "reusing .*vasscm-pg15_${NEW}_" "$D/second.log"')"
chk "... and keeps the edited configuration" "SELECT $(yes_if 'tail -1 "$D/etc/worker.toml" | grep -q "edited by the operator" && grep -q "kept $D/etc/worker.toml" "$D/second.log"')"

inode=$(stat -c %i "$PKGLIB/vasscm.so")
if bash "$ROOT/scripts/install" --prefix "$D/root" --etc "$D/etc2" --no-user > "$D/prefix.log" 2>&1; then ok=true; else ok=false; tail -20 "$D/prefix.log" >&2; fi
chk "--prefix: the package unpacked under a scratch directory, configurations and units for it" \
  "SELECT $ok AND $(yes_if '[ -x "$D/root/usr/bin/vasscm-worker" ] && [ -f "$D/root$PKGLIB/vasscm.so" ] && [ -f "$D/etc2/worker.toml" ] && grep -q "^ExecStart=$D/root/usr/bin/vasscm-worker run --config $D/etc2/worker.toml$" "$D/root/etc/systemd/system/vasscm-worker.service"')"
chk "--prefix touched neither dpkg's database nor PostgreSQL's directories" \
  "SELECT $(yes_if '[ "$(stat -c %i "$PKGLIB/vasscm.so")" = "$inode" ] && ! dpkg -S "$D/root/usr/bin/vasscm-worker" >/dev/null 2>&1')"
finish install
