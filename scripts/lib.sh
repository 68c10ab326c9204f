#!/usr/bin/env bash
# Shared helpers for scripts/demo, scripts/test and bench/: idempotent installs and local
# PostgreSQL clusters run as an unprivileged user. Source it; do not run it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_BIN=/usr/lib/postgresql/15/bin
PG_CONFIG="$PG_BIN/pg_config"
PGRX_VERSION=0.18.0
APT_PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-15-cron softhsm2 opensc libclang-dev clang
              pkg-config libssl-dev libxml2-utils xmlsec1 sudo bc curl)
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

ensure_setup() {
    ensure_packages
    ensure_cargo_pgrx
}

# Builds (release) and installs the extension into the system PostgreSQL 15.
install_extension() {
    log "building and installing the vasscm extension"
    (cd "$ROOT/extension" && as_root env "PATH=$PATH" "HOME=$HOME" cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null)
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
