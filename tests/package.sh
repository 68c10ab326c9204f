#!/usr/bin/env bash
# The Debian package (scripts/package-deb) and a live upgrade with it.
#   1. The package's contents: the extension, its control file, every SQL script (the released
#      install scripts of older versions and every upgrade script), the binaries, the units,
#      the examples, the maintainer scripts, the dependencies.
#   2. Live upgrade 0.2.0 → current, the server running and captures flowing, in a private
#      copy of the PostgreSQL 15 installation (PostgreSQL finds its lib and share directories
#      relative to its binaries) with a dpkg database of its own: the system's PostgreSQL
#      directories, its dpkg database and other engineers' clusters are never touched, and a
#      concurrent `cargo pgrx install` elsewhere cannot disturb the test. The released 0.2.0
#      extension (built from its commit, packaged under the same package name) is installed
#      there with dpkg -i; a cluster running those binaries creates it, loads the generic TOS
#      tables and bindings of 0.2.0, and TOS writers insert continuously — persistent
#      connections (whose backends keep the 0.2.0 library mapped) and a new connection per
#      insert (each loading whatever vasscm.so is installed at that moment). While they insert,
#      the current package is installed with dpkg -i (the same dpkg code path as on /: files
#      written as .dpkg-new and renamed), then ALTER EXTENSION vasscm UPDATE. No insert may
#      fail, every row must be captured, the server log must stay clean, old backends must
#      still map the replaced (deleted) 0.2.0 file, and the bindings made under 0.2.0 keep
#      capturing. (tests/install.sh installs the package on / with the system's dpkg.)
# Runs as root (dpkg, and clusters run as the postgres OS user).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PORT=${PACKAGE_TEST_PORT:-55495}
NEW=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
OLD=0.2.0
OLD_COMMIT=9c8d386
PREV=0.7.0                           # the release before this version: its upgrade script leads here
RATE=${PACKAGE_TEST_RATE:-40}        # inserts per second per pgbench run (two runs)
DURATION=${PACKAGE_TEST_SECONDS:-30} # seconds the writers run; the upgrade happens inside
D="$RUN_DIR/package-test"
CLUSTER=package_live
PKGLIB=$("$PG_CONFIG" --pkglibdir)
EXTDIR=$("$PG_CONFIG" --sharedir)/extension
ARCH=$(dpkg --print-architecture)
PGBENCH="$PG_BIN/pgbench"
PGROOT="$D/pgroot"          # the private PostgreSQL 15 installation (instdir of the private dpkg)
ADMIN="$D/dpkg-admin"       # its dpkg database
PRIV_BIN="$PGROOT$PG_BIN"
# stop_live: stops the test's cluster, immediately when a fast shutdown does not finish in 20 s
# (the system's pg_ctl: same major version as the private copy, which may be gone).
stop_live() {
    local data="$RUN_DIR/clusters/$CLUSTER/data"
    [ -f "$data/postmaster.pid" ] || return 0
    as_pg "$PG_BIN/pg_ctl" -D "$data" stop -m fast -t 20 >/dev/null 2>&1 ||
        as_pg "$PG_BIN/pg_ctl" -D "$data" stop -m immediate -t 20 >/dev/null 2>&1 || true
}
stop_live   # left running by an interrupted run
rm -rf "$D"; mkdir -p "$D"; chmod 755 "$D"
[ "$(id -u)" = 0 ] || { echo "tests/package.sh installs packages with dpkg: run it as root" >&2; exit 1; }
yes_if() { if eval "$1"; then echo true; else echo false; fi; }
# ok CONDITION DESCRIPTION: a check that needs no database.
ok() {
    if eval "$1"; then PASSED=$((PASSED + 1)); echo "  ok   $2"
    else FAILED=$((FAILED + 1)); echo "  FAIL $2" >&2; fi
}

echo "the package"
DEB=$(bash "$ROOT/scripts/package-deb" --reuse 2>"$D/package-deb.log" | tail -1) || { tail -20 "$D/package-deb.log" >&2; exit 1; }
ok '[ "$DEB" = "$ROOT/target/debian/vasscm-pg15_${NEW}_${ARCH}.deb" ] && [ -f "$DEB" ]' "scripts/package-deb built target/debian/vasscm-pg15_${NEW}_${ARCH}.deb"
dpkg-deb -c "$DEB" | awk '{print $NF}' | sed 's#^\./#/#' > "$D/contents"
dpkg-deb -I "$DEB" > "$D/info"
has() { grep -qx "$1" "$D/contents"; }
ok 'has "$PKGLIB/vasscm.so" && has "$EXTDIR/vasscm.control" && has "$EXTDIR/vasscm--$NEW.sql"' \
   "the extension: $PKGLIB/vasscm.so, vasscm.control, vasscm--$NEW.sql"
missing=""
for f in "$ROOT"/migrations/vasscm--*.sql; do has "$EXTDIR/$(basename "$f")" || missing="$missing $(basename "$f")"; done
ok '[ -z "$missing" ] && has "$EXTDIR/vasscm--$OLD.sql" && has "$EXTDIR/vasscm--$PREV--$NEW.sql"' \
   "every migrations/vasscm--*.sql ($(ls "$ROOT"/migrations/vasscm--*.sql | wc -l)), among them vasscm--$OLD.sql and vasscm--$PREV--$NEW.sql${missing:+ (missing:$missing)}"
dpkg-deb --fsys-tarfile "$DEB" | tar -xO ".$EXTDIR/vasscm--$OLD.sql" > "$D/packaged-$OLD.sql"
dpkg-deb --fsys-tarfile "$DEB" | tar -xO ".$EXTDIR/vasscm.control" > "$D/packaged.control"
ok 'cmp -s "$D/packaged-$OLD.sql" "$ROOT/migrations/vasscm--$OLD.sql" && grep -qx "default_version = '"'$NEW'"'" "$D/packaged.control"' \
   "the frozen $OLD install script is shipped as is; vasscm.control defaults to $NEW"
bins=(vasscm-worker vasscm-customs-sim)
if [ -f "$ROOT/console/Cargo.toml" ] && grep -q '"console"' "$ROOT/Cargo.toml"; then bins+=(vasscm-console); fi
missing=""
for b in "${bins[@]}"; do
    has "/usr/bin/$b" || missing="$missing $b"
    if [ -f "$ROOT/scripts/systemd/$b.service" ]; then has "/lib/systemd/system/$b.service" || missing="$missing $b.service"; fi
done
ok '[ -z "$missing" ]' "binaries in /usr/bin and their units in /lib/systemd/system: ${bins[*]}${missing:+ (missing:$missing)}"
ok 'has /usr/share/doc/vasscm/examples/worker.toml && has /usr/share/doc/vasscm/examples/customs-sim.toml && has /usr/share/doc/vasscm/examples/worker.env && ! grep -q "^/etc/" "$D/contents"' \
   "example configurations in /usr/share/doc/vasscm/examples, nothing shipped in /etc (the postinst never overwrites)"
ok 'grep -q " postinst " "$D/info" && grep -q " prerm " "$D/info" && grep -q " postrm " "$D/info" && grep -q " md5sums " "$D/info"' \
   "maintainer scripts postinst, prerm, postrm and md5sums"
fields="$(dpkg-deb -f "$DEB" Package)|$(dpkg-deb -f "$DEB" Version)|$(dpkg-deb -f "$DEB" Architecture)"
depends=$(dpkg-deb -f "$DEB" Depends)
ok '[ "$fields" = "vasscm-pg15|$NEW|$ARCH" ] && grep -q "postgresql-15" <<<"$depends" && grep -q "libc6 (>=" <<<"$depends" && grep -q "libssl3" <<<"$depends"' \
   "control: $fields; Depends: $depends"
ok '[ -z "$(dpkg-deb --fsys-tarfile "$DEB" | tar -tv | awk "\$2 != \"root/root\"")" ]' "every file owned by root:root"
SIZE=$(stat -c %s "$DEB")
echo "  (package size: $SIZE bytes, installed size: $(dpkg-deb -f "$DEB" Installed-Size) KiB)"

echo "the released $OLD extension, packaged from commit $OLD_COMMIT"
OLD_SRC="$ROOT/target/v020/src-$OLD_COMMIT"
if [ ! -f "$OLD_SRC/.complete" ]; then
    rm -rf "$OLD_SRC"; mkdir -p "$OLD_SRC"
    git -C "$ROOT" archive "$OLD_COMMIT" | tar -x -C "$OLD_SRC"
    touch "$OLD_SRC/.complete"
fi
if [ ! -d "$ROOT/target/v020/release/deps" ] && [ -d "$ROOT/target/release/deps" ]; then
    # the same dependencies (pgrx, serde…) in the same profile: start from the current build's
    mkdir -p "$ROOT/target/v020/release"
    cp -a --reflink=auto "$ROOT/target/release/deps" "$ROOT/target/release/build" "$ROOT/target/release/.fingerprint" "$ROOT/target/v020/release/"
fi
OLD_DEB=$(bash "$ROOT/scripts/package-deb" --reuse --extension-only --source "$OLD_SRC" --target-dir "$ROOT/target/v020" 2>"$D/package-deb-old.log" | tail -1) \
    || { tail -20 "$D/package-deb-old.log" >&2; exit 1; }
ok '[ "$(dpkg-deb -f "$OLD_DEB" Package)|$(dpkg-deb -f "$OLD_DEB" Version)" = "vasscm-pg15|$OLD" ]' "$(basename "$OLD_DEB"): vasscm-pg15 $OLD"

echo "live upgrade $OLD → $NEW with the server running and captures flowing"
mkdir -p "$PGROOT/usr/lib/postgresql" "$PGROOT/usr/share/postgresql" "$ADMIN/info" "$ADMIN/updates" "$ADMIN/triggers"
touch "$ADMIN/status" "$ADMIN/available"
cp -a "$(dirname "$PG_BIN")" "$PGROOT/usr/lib/postgresql/"
cp -a "$("$PG_CONFIG" --sharedir)" "$PGROOT/usr/share/postgresql/"
rm -f "$PGROOT$PKGLIB"/vasscm* "$PGROOT$EXTDIR"/vasscm*   # only the packages put vasscm there
ok '[ "$("$PRIV_BIN/pg_config" --pkglibdir)" = "$PGROOT$PKGLIB" ] && [ "$("$PRIV_BIN/pg_config" --sharedir)" = "$PGROOT$("$PG_CONFIG" --sharedir)" ]' \
   "a private PostgreSQL 15 installation under $PGROOT (lib and share found relative to its binaries)"
# dpkg -i into the private installation: its own database, dependencies on the system's
# packages not known there (--force-depends), maintainer scripts run with DPKG_ROOT set.
pkg_install() {
    dpkg --admindir="$ADMIN" --instdir="$PGROOT" --force-script-chrootless --force-depends --log="$D/dpkg.log" -i "$1"
}
cleanup() {
    local pid
    for pid in $(cat "$D"/pgbench-*.pid 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    stop_live
    if [ -z "${FINISHED:-}" ]; then   # stopped early (set -e): still the closing line, and a failure
        FAILED=$((FAILED + 1)); echo "  FAIL the test stopped before its end (server log: ${LOG:-none})" >&2
        echo "package: $PASSED passed, $FAILED failed"
    fi
}
dpkg-deb --fsys-tarfile "$DEB" | tar -xO ".$PKGLIB/vasscm.so" > "$D/current-vasscm.so"
trap cleanup EXIT
old_installed_at=$(date +%s.%N)
pkg_install "$OLD_DEB" > "$D/dpkg-old.log" 2>&1 || { cat "$D/dpkg-old.log" >&2; exit 1; }
PG_BIN=$PRIV_BIN fresh_cluster "$CLUSTER" "$PORT"
LOG="$RUN_DIR/clusters/$CLUSTER/server.log"
q() { psql_at "$PORT" -d live -Atc "$1"; }
num() { local v; v=$(psql_at "$PORT" -d live -Atc "$1" 2>/dev/null) && [ -n "$v" ] && echo "$v" || echo -1; }   # -1: no answer
psql_at "$PORT" -qc "CREATE DATABASE live" -c "ALTER DATABASE live SET vasscm.sender_code = 'CANGTEST'" \
    -c "ALTER DATABASE live SET vasscm.sender_name = 'Cảng thử nghiệm'" -c "ALTER DATABASE live SET vasscm.receiver_code = '03CC'" >/dev/null
psql_at "$PORT" -d live -qc "CREATE EXTENSION vasscm"
psql_at "$PORT" -d live -q -f "$OLD_SRC/sql/examples/generic_tos_tables.sql"
psql_at "$PORT" -d live -q -f "$OLD_SRC/sql/examples/generic_tos_bindings.sql" >/dev/null
psql_at "$PORT" -d live -qc "CREATE SEQUENCE live_ids"
check "the cluster runs the released $OLD, with the generic bindings of $OLD" "$PORT" live \
  "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vasscm') = '$OLD' AND (SELECT count(*) FROM vasscm.binding) > 0"
gate_in_binding=$(q "SELECT id FROM vasscm.binding WHERE source = 'tos_container_move'::regclass AND message_type = '14'")
cat > "$D/insert.sql" <<'EOF'
INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, gate_in_at) VALUES (nextval('live_ids'), 'MSKU1234565', 'S1', 'BL1', now());
EOF
chmod 644 "$D/insert.sql"
# persistent connections (-c 2) and a new connection for every insert (-C -c 2)
for mode in persistent reconnecting; do
    flag=""; [ "$mode" = reconnecting ] && flag=-C
    PGAPPNAME=writer-$mode PGCONNECT_TIMEOUT=5 "$PGBENCH" -h 127.0.0.1 -p "$PORT" -U postgres -n $flag -c 2 -j 1 -R "$RATE" -T "$DURATION" \
        -f "$D/insert.sql" live > "$D/pgbench-$mode.out" 2>&1 &
    echo $! > "$D/pgbench-$mode.pid"
done
wait_until "$PORT" live "SELECT count(*) >= 100 FROM tos_container_move" 20 || true
old_backends=$(num "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE datname = 'live' AND application_name = 'writer-persistent'")
check "the server runs the private installation's binaries" "$PORT" live \
  "SELECT $(yes_if '[ "$(readlink "/proc/$(head -1 "$RUN_DIR/clusters/$CLUSTER/data/postmaster.pid")/exe")" = "$PRIV_BIN/postgres" ]')"
LIB="$PGROOT$PKGLIB/vasscm.so"
inode_before=$(stat -c %i "$LIB")

rows_0=$(num "SELECT count(*) FROM tos_container_move")
t0=$(date +%s.%N)
pkg_install "$DEB" > "$D/dpkg-new.log" 2>&1 && dpkg_ok=true || { dpkg_ok=false; cat "$D/dpkg-new.log" >&2; }
t1=$(date +%s.%N)
rows_1=$(num "SELECT count(*) FROM tos_container_move")
inode_new=$(stat -c %i "$LIB" 2>/dev/null || echo none)
deleted_mapped=0
for pid in $old_backends; do
    if grep -q "$LIB (deleted)" "/proc/$pid/maps" 2>/dev/null; then deleted_mapped=$((deleted_mapped + 1)); fi
done
ok '$dpkg_ok && [ "$inode_new" != "$inode_before" ] && cmp -s "$LIB" "$D/current-vasscm.so"' \
   "dpkg -i of $NEW while inserting: vasscm.so replaced by a new file (inode $inode_before → $inode_new)"
ok '[ -n "$old_backends" ] && [ "$deleted_mapped" = "$(wc -w <<<"$old_backends")" ]' \
   "the persistent writers' backends still map the replaced $OLD library ($deleted_mapped of $(wc -w <<<"$old_backends") map \"vasscm.so (deleted)\")"
sleep 2   # new connections now load the $NEW library under the $OLD SQL definitions
rows_2=$(num "SELECT count(*) FROM tos_container_move")
t2=$(date +%s.%N)
alter_out=$(psql_at "$PORT" -d live -qAtc "ALTER EXTENSION vasscm UPDATE" 2>&1) && alter_ok=true || alter_ok=false
t3=$(date +%s.%N)
rows_3=$(num "SELECT count(*) FROM tos_container_move")
max_id_at_update=$(num "SELECT last_value FROM live_ids")
running=0
for mode in persistent reconnecting; do kill -0 "$(cat "$D/pgbench-$mode.pid")" 2>/dev/null && running=$((running + 1)); done
ok '$alter_ok' "ALTER EXTENSION vasscm UPDATE while inserting${alter_out:+: $alter_out}"
ok '[ "$running" = 2 ]' "both writers were still inserting when the update was over ($running of 2 running)"
check "the extension is now at $NEW" "$PORT" live "SELECT extversion = '$NEW' FROM pg_extension WHERE extname = 'vasscm'"

# the writers stop by themselves after $DURATION s
limit=$(( $(date +%s) + DURATION + 30 ))
rc=()
for mode in persistent reconnecting; do
    pid=$(cat "$D/pgbench-$mode.pid")
    while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$limit" ]; do sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kill "$pid"; echo "  pgbench ($mode) did not stop in time" >&2; fi
    if wait "$pid"; then rc+=(0); else rc+=($?); fi
done
rm -f "$D"/pgbench-*.pid
processed=0
for mode in persistent reconnecting; do
    n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$D/pgbench-$mode.out")
    processed=$((processed + ${n:-0}))
done
ok '[ "${rc[*]}" = "0 0" ] && ! grep -qi "aborted\|error" "$D"/pgbench-*.out && grep -q "^number of failed transactions: 0 " "$D/pgbench-persistent.out" && grep -q "^number of failed transactions: 0 " "$D/pgbench-reconnecting.out"' \
   "no insert failed (pgbench exit codes: ${rc[*]})"
[ "${rc[*]}" = "0 0" ] || grep -i "abort\|error" "$D"/pgbench-*.out | head -5 >&2
psql_at "$PORT" -d live -qc "INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, gate_in_at) VALUES (nextval('live_ids'), 'MSKU1234565', 'S1', 'BL1', now())" || true
rows=$(num "SELECT count(*) FROM tos_container_move")
check "every row inserted was captured: $rows rows ($processed by the writers), $rows gate-in messages, all queued" "$PORT" live \
  "SELECT $rows = $processed + 1 AND count(*) = $rows AND count(DISTINCT source_key) = $rows AND bool_and(status = 'queued')
     FROM vasscm.outbox WHERE binding_id = $gate_in_binding"
q "SELECT '    not captured as queued — ' || status || ': ' || count(*) || ' (' || min(created_at)::time || ' – ' || max(created_at)::time || '): '
            || left(coalesce(min(last_error), ''), 160)
     FROM vasscm.outbox WHERE binding_id = $gate_in_binding AND status <> 'queued' GROUP BY status" >&2 || true
check "captures kept flowing during dpkg -i ($((rows_1 - rows_0)) rows), between it and the update ($((rows_2 - rows_1))) and during the update ($((rows_3 - rows_2)))" "$PORT" live \
  "SELECT $((rows_1 - rows_0)) >= 0 AND $((rows_2 - rows_1)) > 0 AND $((rows_3 - rows_2)) >= 0 AND $((rows_3 - rows_0)) > 0"
after=$(num "SELECT count(*) FROM vasscm.outbox WHERE binding_id = $gate_in_binding AND (source_key ->> 'move_id')::bigint > $max_id_at_update")
check "the binding made under $OLD keeps capturing after the update ($after rows after it), through its regenerated mapping" "$PORT" live \
  "SELECT $after > 0 AND EXISTS (SELECT 1 FROM pg_proc WHERE proname = '_binding_map_$gate_in_binding' AND pg_get_userbyid(proowner) = 'postgres')"
check "messages captured before, during and after the upgrade validate" "$PORT" live \
  "WITH ids AS (SELECT DISTINCT unnest(ARRAY[1, $rows_1, $rows_2, $max_id_at_update, $rows]::bigint[]) AS id)
   SELECT count(*) = (SELECT count(*) FROM ids) AND bool_and(NOT EXISTS (SELECT 1 FROM vasscm.validate_message(message))) FROM vasscm.outbox
    WHERE binding_id = $gate_in_binding AND (source_key ->> 'move_id')::bigint IN (SELECT id FROM ids)"
ok '[ "$(stat -c %i "$LIB" 2>/dev/null)" = "$inode_new" ] && cmp -s "$LIB" "$D/current-vasscm.so"' \
   "vasscm.so is still the file dpkg installed when the test ends"
bad=$(grep -E "unrecognized function API version|terminated by signal|server process .* was terminated|PANIC|ERROR|FATAL" "$LOG" | head -5 || true)
ok '[ -z "$bad" ]' "the server log has no \"unrecognized function API version\", crash, ERROR or FATAL${bad:+: $bad}"

ok '[ "$(dpkg-query --admindir="$ADMIN" -W -f="\${Status} \${Version}" vasscm-pg15)" = "install ok installed $NEW" ] && grep -qx "default_version = '"'$NEW'"'" "$PGROOT$EXTDIR/vasscm.control" && [ ! -e "$PGROOT$EXTDIR/vasscm--$PREV--$NEW.sql.dpkg-new" ]' \
   "dpkg records vasscm-pg15 $NEW as installed (an upgrade from $OLD), vasscm.control defaults to $NEW, no leftover .dpkg-new"
E="$PGROOT/etc/vasscm"
ok '[ "$(stat -c %a "$E/worker.toml")" = 640 ] && [ "$(stat -c %a "$E/worker.env")" = 600 ] && [ -f "$E/customs-sim.toml" ] && [ ! -e "$E/worker.toml.dpkg-dist" ]' \
   "the postinst made the configurations from the examples (under DPKG_ROOT: worker.toml 640, worker.env 600)"
echo '# edited by the operator' >> "$E/worker.toml"
pkg_install "$DEB" > "$D/dpkg-again.log" 2>&1 && again=true || { again=false; cat "$D/dpkg-again.log" >&2; }
ok '$again && tail -1 "$E/worker.toml" | grep -q "edited by the operator" && ! grep -q "wrote .*worker.toml" "$D/dpkg-again.log"' \
   "installing the package again keeps the edited configuration, without a prompt"
printf '  (%s ran for %.1f s before the upgrade; dpkg -i %s took %.2f s, ALTER EXTENSION UPDATE %.2f s; %d rows inserted from the start of dpkg -i to the end of the update, %d in all)\n' \
  "$OLD" "$(echo "$t0 - $old_installed_at" | bc)" "$NEW" "$(echo "$t1 - $t0" | bc)" "$(echo "$t3 - $t2" | bc)" "$((rows_3 - rows_0))" "$rows"
if [ "$FAILED" = 0 ]; then stop_live; rm -rf "$PGROOT"; fi   # 70 MB; kept when something failed
FINISHED=1
finish package
