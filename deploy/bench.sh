#!/usr/bin/env bash
# Benchmark: builds walletd, walletctl and the load generator (release), sets
# up a throw-away SoftHSM2 token and database, starts walletd (one or more
# instances), runs tests/loadgen against it, then audits the ledger.
# Nothing under data/ is touched. See BENCHMARKS.md for the figures.
#
#   deploy/bench.sh [--postgres] [--instances N] [--keep] [-- LOADGEN ARGS...]
#
#   --postgres     use a fresh PostgreSQL database (on $BENCH_PG_URL, default
#                  postgres://root@127.0.0.1:5432/postgres) instead of SQLite
#   --instances N  run N walletd processes on the same database (needs
#                  --postgres); the load generator splits its connections
#   --keep         keep the work directory (token, database, logs)
#
# Everything after `--` goes to loadgen (for example `-c 64 -d 20
# --scenarios enroll,verify`); `loadgen --help` lists them. Extra walletd
# settings come from the environment (WALLET_LEDGER_BATCH_DELAY_MS, ...).
# With BENCH_PERF=FILE, `perf record` samples the first walletd (with call
# graphs) for the whole load run and writes FILE (needs linux-perf);
# BENCH_PERF_HZ sets the sampling rate (default 499; dwarf call graphs cost
# the load run CPU, so a lower rate disturbs it less).
# BENCH_WALLETD=PATH runs that walletd binary instead of the one just built
# (an A/B comparison of two builds, run alternately); when the builds differ
# in their migrations, BENCH_WALLETCTL=PATH sets up and audits with the
# matching walletctl.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd -P)
# shellcheck source=deploy/lib.sh
. deploy/lib.sh

POSTGRES=0
INSTANCES=1
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
    --postgres) POSTGRES=1 ;;
    --instances) INSTANCES=${2:?--instances needs a number}; shift ;;
    --keep) KEEP=1 ;;
    --) shift; break ;;
    -h | --help)
        sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
        exit 0
        ;;
    *) die "unexpected argument: $1 (see --help)" ;;
    esac
    shift
done
[ "$INSTANCES" -ge 1 ] || die "--instances must be at least 1"
[ "$INSTANCES" -eq 1 ] || [ "$POSTGRES" -eq 1 ] || die "several instances need --postgres (SQLite is one process's database)"

mapfile -t build_deps < <(build_packages)
apt_install_missing softhsm2 opensc curl "${build_deps[@]}"
ensure_cargo
cargo build --release -p service --bins -p wallet-loadgen

WORK=$(mktemp -d "${TMPDIR:-/tmp}/onevisit-bench-XXXXXX")
PIDS=()
DB_NAME=""
PERF_PID=""
cleanup() {
    [ -z "$PERF_PID" ] || { kill -INT "$PERF_PID" 2>/dev/null || true; wait "$PERF_PID" 2>/dev/null || true; }
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -n "$DB_NAME" ] && [ "$KEEP" -eq 0 ]; then
        psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $DB_NAME" >/dev/null 2>&1 || true
    fi
    if [ "$KEEP" -eq 0 ]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT

mkdir -p "$WORK/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
    "$WORK/tokens" >"$WORK/softhsm2.conf"
export SOFTHSM2_CONF="$WORK/softhsm2.conf"
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$WORK/pin"
softhsm2-util --init-token --free --label onevisit-bench --pin "$(cat "$WORK/pin")" \
    --so-pin "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >/dev/null

export WALLET_TOKEN_LABEL=onevisit-bench
export WALLET_PIN_FILE="$WORK/pin"
export WALLET_PKCS11_MODULE=${WALLET_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
export WALLET_LOG=${WALLET_LOG:-warn}
if [ "$POSTGRES" -eq 1 ]; then
    PG_ADMIN=${BENCH_PG_URL:-postgres://root@127.0.0.1:5432/postgres}
    DB_NAME="onevisit_bench_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
    psql -q "$PG_ADMIN" -c "CREATE DATABASE $DB_NAME" >/dev/null
    export WALLET_DATABASE_URL="${PG_ADMIN%/*}/$DB_NAME"
else
    export WALLET_DATABASE_URL="sqlite://$WORK/wallet.db"
fi

WALLETCTL="${BENCH_WALLETCTL:-$ROOT/target/release/walletctl}"
"$WALLETCTL" init >"$WORK/init.log"
staff() { "$WALLETCTL" staff add "$@" | tail -n 1; }
OFFICER=$(staff --name bench-officer --role officer --department market-regulation)
COUNTER=$(staff --name bench-counter --role counter)

URLS=()
PID_ARGS=()
for i in $(seq 1 "$INSTANCES"); do
    port=$((18080 + i))
    WALLET_LISTEN="127.0.0.1:$port" WALLET_PUBLIC_URL="http://127.0.0.1:$port" \
        "${BENCH_WALLETD:-$ROOT/target/release/walletd}" >"$WORK/walletd-$i.log" 2>&1 &
    PIDS+=("$!")
    PID_ARGS+=(--pid "$!")
    URLS+=(--url "http://127.0.0.1:$port")
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || {
        cat "$WORK/walletd-$i.log" >&2
        die "walletd $i did not become ready"
    }
done

if [ -n "${BENCH_PERF:-}" ]; then
    perf record -F "${BENCH_PERF_HZ:-499}" -g --call-graph dwarf,32768 -p "${PIDS[0]}" -o "$BENCH_PERF" >"$WORK/perf.log" 2>&1 &
    PERF_PID=$!
fi

"$ROOT/target/release/loadgen" "${URLS[@]}" "${PID_ARGS[@]}" \
    --officer-token "$OFFICER" --licence-token "$OFFICER" --counter-token "$COUNTER" \
    --module "$WALLET_PKCS11_MODULE" --token-label onevisit-bench --pin-file "$WORK/pin" \
    --check-receipts "$@"

if [ -n "$PERF_PID" ]; then
    kill -INT "$PERF_PID"
    wait "$PERF_PID" || true
    PERF_PID=""
fi

log "auditing the ledger"
# Let every queued entry be integrated before the audit reads the log.
sleep 1
"$WALLETCTL" ledger audit
