#!/usr/bin/env bash
# Benchmark: form-14 messages built, validated, and built + validated per second on one core
# (parallel query off), N messages each, inside PostgreSQL with the release build.
# Usage: bench/build_validate.sh [N]   (default 100000). Not a test: prints figures.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
N=${1:-100000}
PORT=${BENCH_PORT:-55434}
ensure_setup
install_extension
start_cluster bench "$PORT"
trap 'stop_cluster bench' EXIT
psql_at "$PORT" -qc "DROP DATABASE IF EXISTS vasscm_bench" -c "CREATE DATABASE vasscm_bench" 2>/dev/null
psql_at "$PORT" -d vasscm_bench -q <<SQL
CREATE EXTENSION vasscm;
SET vasscm.sender_code = 'CANGBENCH'; SET vasscm.sender_name = 'Bench'; SET vasscm.receiver_code = '03CC';
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE sample AS SELECT example AS data FROM vasscm.catalogue_message WHERE code = '14' AND version = '1';
CREATE TEMP TABLE msgs AS SELECT vasscm.build_message('14', (SELECT data FROM sample)) AS xml FROM generate_series(1, $N);
ANALYZE msgs;
DO \$\$
DECLARE
    n  int := $N;
    d  jsonb := (SELECT data FROM sample);
    t0 timestamptz; s float8;
BEGIN
    PERFORM count(*) FROM generate_series(1, n);   -- warm up
    t0 := clock_timestamp();
    PERFORM count(*) FROM generate_series(1, n);
    s := extract(epoch FROM clock_timestamp() - t0);
    RAISE NOTICE 'baseline generate_series(1, %): % s', n, round(s::numeric, 3);

    t0 := clock_timestamp();
    PERFORM count(vasscm.build_message('14', d)) FROM generate_series(1, n);
    s := extract(epoch FROM clock_timestamp() - t0);
    RAISE NOTICE 'build_message(14):              % messages/s per core', round(n / s);

    t0 := clock_timestamp();
    PERFORM count(*) FROM msgs m, LATERAL vasscm.validate_message(m.xml) v;
    s := extract(epoch FROM clock_timestamp() - t0);
    RAISE NOTICE 'validate_message(14):           % messages/s per core', round(n / s);
    PERFORM count(*) FROM msgs m;


    t0 := clock_timestamp();
    PERFORM count(*) FROM (SELECT vasscm.build_message('14', d) AS xml FROM generate_series(1, n)) b,
                          LATERAL vasscm.validate_message(b.xml) v;
    s := extract(epoch FROM clock_timestamp() - t0);
    RAISE NOTICE 'build + validate (14):          % messages/s per core', round(n / s);

    t0 := clock_timestamp();
    PERFORM count(vasscm.parse_message(m.xml)) FROM msgs m;
    s := extract(epoch FROM clock_timestamp() - t0);
    RAISE NOTICE 'parse_message(14):              % messages/s per core', round(n / s);
END
\$\$;
SQL
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}')"
