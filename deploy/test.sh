#!/usr/bin/env bash
# Runs every test of the workspace. `.ci/run` runs this same script.
#
#   deploy/test.sh
#
# Phases (each prints its elapsed time; all are quick when nothing is missing):
#   packages  installs the missing ones of softhsm2, opensc (pkcs11-tool), sqlite3,
#             jq (the runbook tests), postgresql, libpq-dev, pkg-config, curl,
#             openssl, python3-venv
#   postgres  makes sure PostgreSQL answers on 127.0.0.1:5432 (starts the
#             installed cluster if not) with a superuser role `root` and a
#             database `test`; if `root` cannot log in over TCP, puts
#             `host all all 127.0.0.1/32 trust` at the top of pg_hba.conf
#             (a test machine's set-up) and reloads
#   pkilint   Python venv at .venv/ with pkilint (the tests find it there)
#   nextest   installs cargo-nextest if `cargo nextest` is missing
#   verifier  unit tests of the independent Python ledger verifier
#   tests     cargo nextest run --workspace --no-fail-fast
#
# nextest is required, not a nicety: it runs each test in its own process,
# and SoftHSM2 reads SOFTHSM2_CONF once per process, so per-test tokens only
# work that way.
#
# Environment:
#   WALLET_TEST_POSTGRES_URL  admin URL the tests create their databases with
#                             (default postgres://root@127.0.0.1:5432/test). When
#                             set to anything else, the local server is not
#                             managed, only checked.
#   WALLET_TEST_SKIP_CARGO=1  skip the nextest and tests phases (checks the
#                             machine set-up only).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=deploy/lib.sh
. deploy/lib.sh

DEFAULT_PG_URL=postgres://root@127.0.0.1:5432/test
export WALLET_TEST_POSTGRES_URL="${WALLET_TEST_POSTGRES_URL:-$DEFAULT_PG_URL}"
PKILINT_SPEC=pkilint==0.13.3
total_start=$(now_us)

# --- packages ----------------------------------------------------------------
phase_begin packages
pkgs=(softhsm2 opensc libpq-dev pkg-config curl openssl sqlite3 jq)
if [ "$WALLET_TEST_POSTGRES_URL" = "$DEFAULT_PG_URL" ]; then
    pkgs+=(postgresql)
elif ! command -v psql >/dev/null 2>&1; then
    pkgs+=(postgresql-client)
fi
mapfile -t build_deps < <(build_packages)
pkgs+=("${build_deps[@]}")
# `python3 -m venv` needs ensurepip, which Debian ships in python3-venv.
if ! command -v python3 >/dev/null 2>&1; then
    pkgs+=(python3 python3-venv)
elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    pkgs+=(python3-venv)
fi
apt_install_missing "${pkgs[@]}"
phase_end

# --- postgres ------------------------------------------------------------------
phase_begin postgres
export PGCONNECT_TIMEOUT=5

# Runs a command as the postgres OS user (peer authentication on the socket).
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && sudo -u postgres "$@")
    fi
}
pg_admin() { as_postgres psql -X -q -p 5432 -v ON_ERROR_STOP=1 "$@"; }
pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432; }
root_can_log_in() {
    [ "$(psql -X -w -h 127.0.0.1 -p 5432 -U root -d test -tA \
        -c 'select rolsuper from pg_roles where rolname = current_user' 2>/dev/null)" = t ]
}
wait_for() { # wait_for SECONDS COMMAND...
    local n=$(($1 * 5))
    shift
    until "$@"; do
        n=$((n - 1))
        [ "$n" -gt 0 ] || return 1
        sleep 0.2
    done
}

if [ "$WALLET_TEST_POSTGRES_URL" != "$DEFAULT_PG_URL" ]; then
    psql -X -w -q "$WALLET_TEST_POSTGRES_URL" -c 'select 1' >/dev/null ||
        die "cannot connect to WALLET_TEST_POSTGRES_URL"
    log "using WALLET_TEST_POSTGRES_URL as given"
else
    if ! pg_ready; then
        # The cluster configured for port 5432, or a new one if there is none.
        cluster=$(pg_lsclusters -h 2>/dev/null | awk '$3 == 5432 { print $1, $2; exit }')
        if [ -z "$cluster" ]; then
            [ -z "$(pg_lsclusters -h 2>/dev/null)" ] ||
                die "no PostgreSQL cluster uses port 5432 (pg_lsclusters below); set WALLET_TEST_POSTGRES_URL
$(pg_lsclusters)"
            pg_version=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null |
                awk -F/ '{ print $5 }' | sort -V | tail -n 1)
            [ -n "$pg_version" ] || die "no PostgreSQL server under /usr/lib/postgresql"
            log "creating PostgreSQL $pg_version cluster main on port 5432"
            as_root pg_createcluster -p 5432 "$pg_version" main >/dev/null
            cluster="$pg_version main"
        fi
        read -r pg_version pg_cluster <<<"$cluster"
        if as_root pg_ctlcluster --skip-systemctl-redirect "$pg_version" "$pg_cluster" status >/dev/null 2>&1; then
            die "PostgreSQL $pg_version/$pg_cluster runs but does not answer on 127.0.0.1:5432 (check listen_addresses)"
        fi
        log "starting PostgreSQL $pg_version/$pg_cluster"
        as_root pg_ctlcluster --skip-systemctl-redirect "$pg_version" "$pg_cluster" start
        wait_for 30 pg_ready ||
            die "PostgreSQL did not come up on 127.0.0.1:5432 (see /var/log/postgresql/)"
    fi
    if ! root_can_log_in; then
        if [ "$(pg_admin -tAc "select rolsuper from pg_roles where rolname = 'root'")" != t ]; then
            if [ -z "$(pg_admin -tAc "select 1 from pg_roles where rolname = 'root'")" ]; then
                log "creating PostgreSQL superuser role root"
                pg_admin -c 'create role root superuser login'
            else
                log "making PostgreSQL role root a superuser"
                pg_admin -c 'alter role root superuser login'
            fi
        fi
        if [ -z "$(pg_admin -tAc "select 1 from pg_database where datname = 'test'")" ]; then
            log "creating PostgreSQL database test"
            pg_admin -c 'create database test owner root'
        fi
    fi
    if ! root_can_log_in; then
        hba=$(pg_admin -tAc 'show hba_file')
        if ! grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
            log "adding 'host all all 127.0.0.1/32 trust' to the top of $hba"
            new_hba=$(mktemp)
            {
                printf '# added by deploy/test.sh: passwordless TCP logins from 127.0.0.1 (test machine)\n'
                printf 'host all all 127.0.0.1/32 trust\n'
                as_root cat "$hba"
            } >"$new_hba"
            # Write into the existing file to keep its owner and mode.
            as_root tee "$hba" <"$new_hba" >/dev/null
            rm -f "$new_hba"
        fi
        pg_admin -c 'select pg_reload_conf()' >/dev/null
        wait_for 10 root_can_log_in ||
            die "role root still cannot log in to database test on 127.0.0.1:5432 (check $hba)"
    fi
fi
# (a password in the URL is not printed)
log "WALLET_TEST_POSTGRES_URL=$(printf '%s' "$WALLET_TEST_POSTGRES_URL" | sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#')"
phase_end

# --- pkilint -------------------------------------------------------------------
phase_begin pkilint
if ! { [ -x .venv/bin/lint_pkix_cert ] && .venv/bin/lint_pkix_cert --help >/dev/null 2>&1; }; then
    log "creating .venv with $PKILINT_SPEC"
    rm -rf .venv
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check "$PKILINT_SPEC"
    .venv/bin/lint_pkix_cert --help >/dev/null || die "pkilint does not run from .venv"
fi
phase_end

if [ "${WALLET_TEST_SKIP_CARGO:-}" = 1 ]; then
    log "WALLET_TEST_SKIP_CARGO=1: not running cargo"
    printf 'set-up times:\n' >&2
    printf '  %s\n' "${PHASE_REPORT[@]}" >&2
    exit 0
fi

# --- nextest -------------------------------------------------------------------
phase_begin nextest
ensure_cargo
if ! cargo nextest --version >/dev/null 2>&1; then
    log "installing cargo-nextest"
    cargo install cargo-nextest --locked
fi
phase_end

printf 'set-up times:\n' >&2
printf '  %s\n' "${PHASE_REPORT[@]}" >&2

# --- verifier ------------------------------------------------------------------
# The independent Python ledger verifier's own unit tests (RFC 6962 vectors,
# signed notes, a fake server). The e2e tests then run it against walletd.
phase_begin verifier
.venv/bin/python -m unittest discover -s tests/verifier -q ||
    die "the Python ledger verifier's unit tests failed"
phase_end

# --- tests ---------------------------------------------------------------------
phase_begin tests
rc=0
cargo nextest run --workspace --no-fail-fast || rc=$?
phase_end

us=$(($(now_us) - total_start))
printf 'deploy/test.sh: total %d.%01ds, exit %d\n' $((us / 1000000)) $((us % 1000000 / 100000)) "$rc" >&2
exit "$rc"
