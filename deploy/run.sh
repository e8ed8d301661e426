#!/usr/bin/env bash
# Quick start: runs walletd with demo data on the embedded default set-up
# (SQLite database and a SoftHSM2 token, both under data/).
#
#   deploy/run.sh
#
# On a fresh Debian machine it installs what is missing (softhsm2, opensc,
# curl, build dependencies), builds walletd and walletctl (release), and
# creates, only when absent:
#   data/                 mode 0700
#   data/softhsm2.conf    SoftHSM2 config, token directory data/tokens/
#   data/pin, data/so-pin random user and SO PINs (0600)
#   token "onevisit"      (or $WALLET_TOKEN_LABEL) in data/tokens/
#   data/wallet.db        via `walletctl init` (key ceremony, idempotent)
#   data/demo-tokens.env  bearer tokens of the demo staff (0600)
# and then execs walletd in the foreground. Re-running reuses all of it.
# To start from scratch: stop walletd, `rm -rf data`, run again.
#
# Honoured from the environment: WALLET_LISTEN (default 127.0.0.1:8080),
# WALLET_TOKEN_LABEL, and the other WALLET_* settings walletd reads. Set by
# this script (overriding the environment): SOFTHSM2_CONF,
# WALLET_PIN_FILE=data/pin, WALLET_DATABASE_URL=sqlite://data/wallet.db.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd -P)
# shellcheck source=deploy/lib.sh
. deploy/lib.sh

case "${1:-}" in
"") ;;
-h | --help)
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
    exit 0
    ;;
*) die "unexpected argument: $1 (deploy/run.sh takes none; configure with WALLET_* variables)" ;;
esac

TOKEN_LABEL=${WALLET_TOKEN_LABEL:-onevisit}
LISTEN=${WALLET_LISTEN:-127.0.0.1:8080}
TOKENS_FILE=data/demo-tokens.env
WALLETCTL=target/release/walletctl
WALLETD=target/release/walletd

# --- packages ----------------------------------------------------------------
phase_begin packages
mapfile -t build_deps < <(build_packages)
apt_install_missing softhsm2 opensc curl "${build_deps[@]}"
phase_end

# --- build -------------------------------------------------------------------
phase_begin build
ensure_cargo
cargo build --release --bins -p service
phase_end

# --- data directory, SoftHSM2 token, PINs --------------------------------------
phase_begin token
umask 077
mkdir -p data/tokens
chmod 0700 data

conf="directories.tokendir = $ROOT/data/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false"
# Rewritten only when its content changes (for example after the checkout moved).
if [ ! -f data/softhsm2.conf ] || [ "$(cat data/softhsm2.conf)" != "$conf" ]; then
    printf '%s\n' "$conf" >data/softhsm2.conf
fi
export SOFTHSM2_CONF="$ROOT/data/softhsm2.conf"

token_exists() {
    softhsm2-util --show-slots 2>/dev/null |
        awk -v want="$TOKEN_LABEL" -F'Label:' '
            NF > 1 { v = $2; gsub(/^[ \t]+|[ \t]+$/, "", v); if (v == want) found = 1 }
            END { exit !found }'
}

new_pin() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

if token_exists; then
    [ -s data/pin ] ||
        die "token '$TOKEN_LABEL' exists in data/tokens/ but data/pin is missing; to start over: rm -rf data"
    log "token '$TOKEN_LABEL' already initialised"
else
    for f in data/pin data/so-pin; do
        [ -s "$f" ] || new_pin >"$f"
    done
    log "initialising SoftHSM2 token '$TOKEN_LABEL' in data/tokens/"
    softhsm2-util --init-token --free --label "$TOKEN_LABEL" \
        --pin "$(cat data/pin)" --so-pin "$(cat data/so-pin)" >/dev/null
fi
chmod 0600 data/pin
[ ! -e data/so-pin ] || chmod 0600 data/so-pin
phase_end

# --- key ceremony ----------------------------------------------------------------
phase_begin init
export WALLET_PIN_FILE=data/pin
export WALLET_DATABASE_URL=sqlite://data/wallet.db
export WALLET_TOKEN_LABEL="$TOKEN_LABEL"

if [ ! -e data/wallet.db ] && [ -e "$TOKENS_FILE" ]; then
    log "data/wallet.db is new: discarding the old $TOKENS_FILE"
    rm -f "$TOKENS_FILE"
fi
"$WALLETCTL" init ||
    die "walletctl init failed (to start from scratch: stop walletd, rm -rf data, run again)"
phase_end

# --- demo staff ------------------------------------------------------------------
phase_begin staff
# add_demo_staff VAR NAME ROLE [DEPARTMENT]: adds the staff member unless VAR
# is already in the tokens file, and appends VAR=<token> to it.
add_demo_staff() {
    local var=$1 name=$2 role=$3 dept=${4:-} out token
    local args=(staff add --name "$name" --role "$role")
    [ -n "$dept" ] && args+=(--department "$dept")
    if [ -f "$TOKENS_FILE" ] && grep -q "^$var=" "$TOKENS_FILE"; then
        return 0
    fi
    out=$("$WALLETCTL" "${args[@]}") || die "walletctl staff add --name $name failed"
    token=$(printf '%s\n' "$out" | tail -n 1)
    [[ $token =~ ^[[:graph:]]+$ ]] ||
        die "walletctl staff add --name $name: no token on the last line of its output"
    printf '%s=%s\n' "$var" "$token" >>"$TOKENS_FILE"
    log "added $role $name${dept:+ ($dept)}"
}
add_demo_staff OFFICER_TOKEN demo-officer officer market-regulation
add_demo_staff HEALTH_OFFICER_TOKEN demo-health-officer officer health
add_demo_staff COUNTER_TOKEN demo-counter counter
add_demo_staff OPS_TOKEN demo-ops ops
chmod 0600 "$TOKENS_FILE"
phase_end

# --- what you get ----------------------------------------------------------------
host=${LISTEN%:*}
port=${LISTEN##*:}
case "$host" in
0.0.0.0 | "") host=127.0.0.1 ;;
"[::]") host="[::1]" ;;
esac
scheme=http
[ -n "${WALLET_TLS_CERT:-}" ] && scheme=https
base="$scheme://$host:$port"

cat <<EOF

Demo staff bearer tokens ($TOKENS_FILE):
$(sed 's/^/  /' "$TOKENS_FILE")

Try, in another shell from $ROOT:
  curl -s $base/healthz
  curl -s $base/readyz
  curl -s $base/v1/trust | jq .
  curl -s $base/metrics
  curl -s $base/openapi.json | jq .info
  SOFTHSM2_CONF=data/softhsm2.conf WALLET_PIN_FILE=data/pin WALLET_DATABASE_URL=$WALLET_DATABASE_URL \\
       $WALLETCTL keys list

Starting walletd on $LISTEN (Ctrl-C stops it).
EOF

exec "$WALLETD"
