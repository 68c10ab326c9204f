#!/usr/bin/env bash
# Shared helpers for scripts/demo, scripts/test and bench/: idempotent installs and local
# PostgreSQL clusters run as an unprivileged user. Source it; do not run it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_BIN=/usr/lib/postgresql/15/bin
PG_CONFIG="$PG_BIN/pg_config"
PGRX_VERSION=0.18.0
APT_PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-15-cron softhsm2 opensc libclang-dev clang
              pkg-config libssl-dev libxml2-utils xmlsec1 sudo bc curl iproute2
              opencryptoki chromium chromium-driver python3 dpkg-dev)
export PATH="$HOME/.cargo/bin:$PATH"
# Clusters live outside the work tree: the postgres OS user must reach them even when the
# clone sits under a private home directory.
RUN_DIR=${VASSCM_RUN_DIR:-/tmp/vasscm-$(printf '%s' "$ROOT" | md5sum | cut -c1-8)}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The OS user that owns test clusters: postgres when we are root (initdb refuses root).
pg_user() { if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi; }

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_packages() {
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    # Debian's postgresql-common starts a default cluster; vasscm uses its own clusters.
}

ensure_cargo_pgrx() {
    if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
        log "installing cargo-pgrx $PGRX_VERSION (a few minutes, once)"
        cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
    fi
    if ! grep -qs "pg15" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
        log "pointing cargo-pgrx at the system PostgreSQL 15"
        cargo pgrx init --pg15 "$PG_CONFIG" >/dev/null
    fi
}

# The test clusters, simulators and endpoints listen on fixed ports in 55400-55599, inside the
# kernel's ephemeral range: a client connection that happened to get one of them as its local
# port makes the next listener there fail ("Address already in use"). Reserving the range keeps
# the kernel from handing those ports out (they can still be bound explicitly).
TEST_PORTS=55400-55599
reserve_test_ports() {
    local f=/proc/sys/net/ipv4/ip_local_reserved_ports current
    current=$(cat "$f" 2>/dev/null) || return 0
    case ",$current," in *",$TEST_PORTS,"*) return 0 ;; esac
    if ! as_root sh -c "echo '${current:+$current,}$TEST_PORTS' > $f" 2>/dev/null; then
        echo "note: cannot reserve ports $TEST_PORTS ($f): a test may rarely find its port taken by a client connection" >&2
    fi
}

ensure_setup() {
    ensure_packages
    ensure_cargo_pgrx
    reserve_test_ports
}

# A server that has vasscm.so loaded keeps mapping its file: removing it first makes the next
# install write a new file instead of overwriting the loaded one in place (which crashes or
# confuses running servers: "unrecognized function API version"). Used before `cargo pgrx
# test`, which copies in place; install_extension renames instead.
unlink_loaded_library() {
    as_root rm -f "$("$PG_CONFIG" --pkglibdir)/vasscm.so"
}

# Builds (release) and installs the extension into the system PostgreSQL 15.
install_extension() {
    log "building and installing the vasscm extension"
    (cd "$ROOT/extension" && cargo pgrx package --pg-config "$PG_CONFIG" >/dev/null)
    # Every file goes in by rename (a new inode): a running server keeps the vasscm.so it
    # mapped, new backends load the new one; there is never a moment without the file.
    local tree="$ROOT/target/release/vasscm-pg15" f
    while IFS= read -r f; do
        install_by_rename "$tree/$f" "/$f"
    done < <(cd "$tree" && find . -type f -printf '%P\n')
    # upgrade scripts (vasscm--A--B.sql) and the released install scripts of older versions
    for f in "$ROOT"/migrations/vasscm--*.sql; do
        install_by_rename "$f" "$("$PG_CONFIG" --sharedir)/extension/$(basename "$f")"
    done
}

# install_by_rename SOURCE TARGET: copies SOURCE beside TARGET, then renames it over TARGET.
install_by_rename() {
    local mode=644
    [ -x "$1" ] && mode=755
    as_root install -D -m "$mode" "$1" "$2.vasscm-new"
    as_root mv -f "$2.vasscm-new" "$2"
}

# start_cluster NAME PORT [extra postgres -c options...]: a cluster under $RUN_DIR/clusters/NAME.
start_cluster() {
    local name=$1 port=$2; shift 2
    local dir="$RUN_DIR/clusters/$name"
    mkdir -p "$dir"
    chmod 755 "$RUN_DIR" "$RUN_DIR/clusters"
    chown -R "$(pg_user)" "$dir" 2>/dev/null || true
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        as_pg "$PG_BIN/pg_ctl" -D "$dir/data" stop -m fast >/dev/null
    fi
    local opts="-p $port -k $dir -c listen_addresses=127.0.0.1 -c wal_level=logical -c timezone=UTC"
    for o in "$@"; do opts="$opts -c $o"; done
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$opts" -w start >/dev/null
}

# fresh_cluster NAME PORT [options...]: like start_cluster, from an empty data directory.
fresh_cluster() {
    stop_cluster "$1"
    rm -rf "${RUN_DIR:?}/clusters/$1"
    start_cluster "$@"
}

stop_cluster() {
    local dir="$RUN_DIR/clusters/$1"
    if [ -f "$dir/data/PG_VERSION" ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$dir/data" stop -m fast >/dev/null 2>&1 || true
    fi
}

# psql_at PORT [psql args...]: psql as the postgres role over loopback.
psql_at() {
    local port=$1; shift
    psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"
}

# make_pki DIR: a SoftHSM2 token "vasscm" (PIN 1234) holding the port's signing key and
# certificate (id 01, label "signer"), made now; the port certificate in DIR/port.pem; a
# customs test key and certificate for the simulator (DIR/customs.key, DIR/customs.pem).
# Exports SOFTHSM2_CONF and VASSCM_PIN. Nothing here is ever committed.
make_pki() {
    local d=$1
    rm -rf "$d"; mkdir -p "$d/tokens"; chmod 755 "$d"
    export SOFTHSM2_CONF="$d/softhsm2.conf"
    echo "directories.tokendir = $d/tokens" > "$SOFTHSM2_CONF"
    softhsm2-util --init-token --free --label vasscm --pin 1234 --so-pin 5678 >/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/port.key" -out "$d/port.pem" -days 30 \
        -subj "/CN=Cảng Test/O=Cang Test JSC/C=VN" -utf8 2>/dev/null
    openssl pkcs8 -topk8 -nocrypt -in "$d/port.key" -out "$d/port.p8"
    softhsm2-util --import "$d/port.p8" --token vasscm --label signer --id 01 --pin 1234 >/dev/null
    openssl x509 -in "$d/port.pem" -outform DER -out "$d/port.der"
    pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label vasscm --login --pin 1234 \
        --write-object "$d/port.der" --type cert --id 01 --label signer >/dev/null 2>&1
    rm -f "$d/port.key" "$d/port.p8"   # the private key now lives only on the token
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/customs.key" -out "$d/customs.pem" -days 30 \
        -subj "/CN=Tong cuc Hai quan (sim)/C=VN" 2>/dev/null
    export VASSCM_PIN=1234
}

# The openCryptoki soft token used by the tests (a second, independent PKCS#11 implementation).
OCK_CONF=/etc/opencryptoki/opencryptoki.conf
OCK_STORE=/var/lib/opencryptoki/swtok

# opencryptoki_module: path of Debian's openCryptoki PKCS#11 module.
opencryptoki_module() {
    local m
    for m in "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)/pkcs11/libopencryptoki.so" \
             /usr/lib/x86_64-linux-gnu/pkcs11/libopencryptoki.so /usr/lib/opencryptoki/libopencryptoki.so; do
        if [ -e "$m" ]; then echo "$m"; return; fi
    done
    echo "openCryptoki's PKCS#11 module not found (apt-get install opencryptoki)" >&2
    return 1
}

# opencryptoki_sw_slot: the slot of the soft token (stdll libpkcs11_sw.so) in opencryptoki.conf,
# added to the file when missing.
opencryptoki_sw_slot() {
    local slot
    slot=$(awk '/^[[:space:]]*slot[[:space:]]+[0-9]+/ {s = $2} /stdll[[:space:]]*=[[:space:]]*libpkcs11_sw\.so/ {print s; exit}' "$OCK_CONF" 2>/dev/null || true)
    if [ -z "$slot" ]; then
        slot=$(awk '/^[[:space:]]*slot[[:space:]]+[0-9]+/ {if ($2 + 1 > n) n = $2 + 1} END {print n + 0}' "$OCK_CONF" 2>/dev/null || echo 0)
        [ -f "$OCK_CONF" ] || echo "version opencryptoki-3.1" | as_root tee "$OCK_CONF" >/dev/null
        printf '\nslot %s\n{\nstdll = libpkcs11_sw.so\n}\n' "$slot" | as_root tee -a "$OCK_CONF" >/dev/null
    fi
    echo "$slot"
}

# stop_pkcsslotd: stops the openCryptoki slot daemon (the process of its pid file; pkcsslotd is
# a single daemon per machine, and make_pki_opencryptoki restarts it).
stop_pkcsslotd() {
    local pid
    pid=$(cat /var/run/pkcsslotd.pid 2>/dev/null) || return 0
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pkcsslotd ]; then
        as_root kill "$pid"
        while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    fi
    as_root rm -f /var/run/pkcsslotd.pid
}

# start_pkcsslotd: the openCryptoki slot daemon, with the group and directories it needs (what
# the package's tmpfiles.d makes at boot; a container has no boot).
start_pkcsslotd() {
    getent group pkcs11 >/dev/null || as_root groupadd -r pkcs11
    local d
    for d in /var/lock/opencryptoki /var/lock/opencryptoki/swtok /var/lib/opencryptoki "$OCK_STORE" "$OCK_STORE/TOK_OBJ"; do
        as_root install -d -m 0770 -o root -g pkcs11 "$d"
    done
    stop_pkcsslotd
    as_root /usr/sbin/pkcsslotd
    PKCSSLOTD_PID=$(cat /var/run/pkcsslotd.pid 2>/dev/null || true)
}

# make_pki_opencryptoki DIR: an openCryptoki soft token "vasscm" (user PIN 1234) holding a
# second port signing key and its certificate (id 01, label "signer"), made now; the certificate
# in DIR/port-ock.pem. Starts pkcsslotd (stop it with stop_pkcsslotd). The soft token's store
# is system-wide (/var/lib/opencryptoki/swtok): it is emptied and initialised afresh, unless it
# holds a token of another name (then nothing is touched and this fails). Exports OCK_MODULE.
make_pki_opencryptoki() {
    local d=$1 slot label
    mkdir -p "$d"
    OCK_MODULE=$(opencryptoki_module)
    export OCK_MODULE
    slot=$(opencryptoki_sw_slot)
    start_pkcsslotd
    label=$(pkcsconf -t -c "$slot" 2>/dev/null | sed -n 's/^[[:space:]]*Label:[[:space:]]*//p' | sed 's/[[:space:]]*$//')
    case "$label" in
        ""|vasscm|"IBM OS PKCS#11") ;;
        *) echo "the openCryptoki soft token is in use (label \"$label\"); not touching it" >&2; return 1 ;;
    esac
    stop_pkcsslotd
    as_root find "$OCK_STORE" -mindepth 1 -delete
    as_root rm -f /dev/shm/var.lib.opencryptoki.swtok
    start_pkcsslotd
    # factory SO PIN 87654321; the PINs must be changed from their defaults before use
    printf 'vasscm\n' | pkcsconf -I -c "$slot" -S 87654321 >/dev/null
    pkcsconf -P -c "$slot" -S 87654321 -n 56785678 >/dev/null
    pkcsconf -u -c "$slot" -S 56785678 -n 12341234 >/dev/null
    pkcsconf -p -c "$slot" -U 12341234 -n 1234 >/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/port-ock.key" -out "$d/port-ock.pem" -days 30 \
        -subj "/CN=Cảng Test (openCryptoki)/O=Cang Test JSC/C=VN" -utf8 2>/dev/null
    openssl rsa -in "$d/port-ock.key" -outform DER -out "$d/port-ock.key.der" 2>/dev/null
    openssl x509 -in "$d/port-ock.pem" -outform DER -out "$d/port-ock.der"
    pkcs11-tool --module "$OCK_MODULE" --token-label vasscm --login --pin 1234 --write-object "$d/port-ock.key.der" \
        --type privkey --id 01 --label signer --usage-sign >/dev/null 2>&1
    pkcs11-tool --module "$OCK_MODULE" --token-label vasscm --login --pin 1234 --write-object "$d/port-ock.der" \
        --type cert --id 01 --label signer >/dev/null 2>&1
    rm -f "$d/port-ock.key" "$d/port-ock.key.der"   # the private key now lives only on the token
    pkcs11-tool --module "$OCK_MODULE" --token-label vasscm --login --pin 1234 --list-objects --type privkey 2>/dev/null | grep -q 'label: *signer' || {
        echo "the key was not imported into the openCryptoki token" >&2; return 1; }
}

# start_simulator DIR PORT [PORT_CERT]: the customs simulator in the background (pid in
# DIR/sim.pid), trusting DIR/port.pem or PORT_CERT as the port's certificate; customs' messages
# go to SIM_PORT_CODE (default CANGTEST, the tests' vasscm.sender_code).
start_simulator() {
    local d=$1 port=$2 cert=${3:-$1/port.pem}
    "$ROOT/target/release/vasscm-customs-sim" --listen "127.0.0.1:$port" --port-cert "$cert" \
        --customs-key "$d/customs.key" --customs-cert "$d/customs.pem" --port-code "${SIM_PORT_CODE:-CANGTEST}" >> "$d/sim.log" 2>&1 &
    local pid=$!
    echo "$pid" > "$d/sim.pid"
    disown
    local i=0
    until curl -s "http://127.0.0.1:$port/stats" >/dev/null; do
        i=$((i + 1))
        if ! kill -0 "$pid" 2>/dev/null || [ "$i" -gt 150 ]; then
            echo "the customs simulator did not start on port $port: $(tail -1 "$d/sim.log")" >&2
            return 1
        fi
        sleep 0.1
    done
}

stop_simulator() {
    local pid; pid=$(cat "$1/sim.pid" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}

# worker_config FILE DB_PORT DB SIM_PORT [extra TOML]: a worker configuration for local runs.
worker_config() {
    cat > "$1" <<EOF
[database]
url = "host=127.0.0.1 port=$2 user=postgres dbname=$3"
[worker]
concurrency = 4
lease_seconds = 3
poll_interval_ms = 200
max_attempts = 50
base_delay_seconds = 0.2
max_delay_seconds = 1.0
[signing]
module = "/usr/lib/softhsm/libsofthsm2.so"
token_label = "vasscm"
key_label = "signer"
pin_env = "VASSCM_PIN"
sessions = 2
[customs]
url = "http://127.0.0.1:$4/vasscm"
transport = "soap"
timeout_ms = 5000
certificate_file = "$(dirname "$1")/customs.pem"
EOF
    if [ -n "${5:-}" ]; then printf '%s\n' "$5" >> "$1"; fi
}

build_binaries() {
    log "building the worker and the customs simulator (release)"
    cargo build --release -q -p vasscm-worker -p vasscm-customs-sim
}
