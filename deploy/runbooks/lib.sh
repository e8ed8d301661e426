# shellcheck shell=bash
# Helpers the runbooks use. Sourced, not run, from the repository root:
#
#   . deploy/runbooks/lib.sh
#
# Safe to source in an interactive shell and under `set -euo pipefail`: it
# defines functions and WALLET_URL, and changes nothing else. No function
# calls `exit`; each returns non-zero with a message on standard error.
#
# Reads (see deploy/runbooks/README.md):
#   WALLET_SYSTEMD_UNIT  when set, walletd is that systemd unit
#                        (systemctl start/stop/is-active)
#   WALLET_RUN_DIR       otherwise walletd runs in the background with its pid
#                        in $WALLET_RUN_DIR/walletd.pid and its log in
#                        $WALLET_RUN_DIR/walletd.log
#   WALLET_URL           base URL of walletd; default http://$WALLET_LISTEN
#   SOFTHSM2_CONF        SoftHSM2 configuration (softhsm_tokendir)

WALLET_URL=${WALLET_URL:-http://${WALLET_LISTEN:-127.0.0.1:8080}}

rb_log() { printf '==> %s\n' "$*" >&2; }
rb_err() {
    printf 'error: %s\n' "$*" >&2
    return 1
}

# walletd_pid_file: where the pid of a walletd started by walletd_start lives.
walletd_pid_file() {
    [ -n "${WALLET_RUN_DIR:-}" ] || {
        rb_err "set WALLET_SYSTEMD_UNIT (walletd under systemd) or WALLET_RUN_DIR (walletd in the background)"
        return 1
    }
    printf '%s/walletd.pid\n' "$WALLET_RUN_DIR"
}

# walletd_running: true when walletd is running.
walletd_running() {
    if [ -n "${WALLET_SYSTEMD_UNIT:-}" ]; then
        systemctl is-active --quiet "$WALLET_SYSTEMD_UNIT"
        return
    fi
    local pid_file pid
    pid_file=$(walletd_pid_file) || return 1
    [ -s "$pid_file" ] || return 1
    pid=$(cat "$pid_file")
    kill -0 "$pid" 2>/dev/null
}

# walletd_start: starts walletd unless it is running already. Does not wait:
# call wait_ready next.
walletd_start() {
    if walletd_running; then
        rb_log "walletd is already running"
        return 0
    fi
    if [ -n "${WALLET_SYSTEMD_UNIT:-}" ]; then
        rb_log "systemctl start $WALLET_SYSTEMD_UNIT"
        systemctl start "$WALLET_SYSTEMD_UNIT"
        return
    fi
    local pid_file
    pid_file=$(walletd_pid_file) || return 1
    mkdir -p "$WALLET_RUN_DIR"
    command -v walletd >/dev/null || {
        rb_err "walletd is not on PATH"
        return 1
    }
    nohup walletd >>"$WALLET_RUN_DIR/walletd.log" 2>&1 </dev/null &
    printf '%s\n' "$!" >"$pid_file"
    rb_log "walletd started (pid $!, log $WALLET_RUN_DIR/walletd.log)"
}

# walletd_stop: stops walletd (SIGTERM: it finishes requests in flight) and
# waits until it is gone. Succeeds when it was not running.
walletd_stop() {
    if [ -n "${WALLET_SYSTEMD_UNIT:-}" ]; then
        rb_log "systemctl stop $WALLET_SYSTEMD_UNIT"
        systemctl stop "$WALLET_SYSTEMD_UNIT"
        return
    fi
    local pid_file pid i
    pid_file=$(walletd_pid_file) || return 1
    if ! walletd_running; then
        rm -f "$pid_file"
        rb_log "walletd is not running"
        return 0
    fi
    pid=$(cat "$pid_file")
    kill -TERM "$pid"
    for ((i = 0; i < 600; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$pid_file"
            rb_log "walletd (pid $pid) stopped"
            return 0
        fi
        sleep 0.1
    done
    rb_err "walletd (pid $pid) did not stop within 60 s of SIGTERM"
}

# wait_ready [SECONDS]: waits until $WALLET_URL/readyz answers 200 (database
# and HSM usable); default 30 s. On failure shows why.
wait_ready() {
    local limit=${1:-30} i
    for ((i = 0; i < limit * 5; i++)); do
        if curl -fsS -o /dev/null --max-time 2 "$WALLET_URL/readyz" 2>/dev/null; then
            rb_log "walletd is ready at $WALLET_URL"
            return 0
        fi
        if [ -z "${WALLET_SYSTEMD_UNIT:-}" ] && ! walletd_running; then
            tail -n 20 "${WALLET_RUN_DIR:-.}/walletd.log" >&2 2>/dev/null || true
            rb_err "walletd is not running (log above)"
            return 1
        fi
        sleep 0.2
    done
    curl -sS --max-time 2 "$WALLET_URL/readyz" >&2 || true
    if [ -n "${WALLET_SYSTEMD_UNIT:-}" ]; then
        journalctl -u "$WALLET_SYSTEMD_UNIT" -n 20 --no-pager >&2 || true
    else
        tail -n 20 "${WALLET_RUN_DIR:-.}/walletd.log" >&2 2>/dev/null || true
    fi
    rb_err "walletd at $WALLET_URL not ready after ${limit} s"
}

# softhsm_tokendir: the token directory named in $SOFTHSM2_CONF.
softhsm_tokendir() {
    local conf=${SOFTHSM2_CONF:-/etc/softhsm/softhsm2.conf} dir
    dir=$(sed -n 's/^[[:space:]]*directories\.tokendir[[:space:]]*=[[:space:]]*//p' "$conf" |
        tail -n 1 | sed 's/[[:space:]]*$//')
    [ -n "$dir" ] || {
        rb_err "no directories.tokendir in $conf"
        return 1
    }
    printf '%s\n' "$dir"
}

# token_present: true when a token labelled $WALLET_TOKEN_LABEL (default
# onevisit) is initialised in SoftHSM2.
token_present() {
    softhsm2-util --show-slots 2>/dev/null |
        awk -v want="${WALLET_TOKEN_LABEL:-onevisit}" -F'Label:' '
            NF > 1 { v = $2; gsub(/^[ \t]+|[ \t]+$/, "", v); if (v == want) found = 1 }
            END { exit !found }'
}

# check_keys [--active]: shows `walletctl keys list` and fails unless the
# database names at least one key and every key (with --active: every
# active key) is on the token ("yes").
check_keys() {
    local only_active=0 list
    [ "${1:-}" = "--active" ] && only_active=1
    list=$(walletctl keys list) || return 1
    printf '%s\n' "$list"
    printf '%s\n' "$list" | awk -v only_active="$only_active" '
        NR == 1 { next }
        { rows++ }
        only_active && $4 != "active" { next }
        $NF != "yes" { bad++; printf "not on the token: %s %s (%s): %s\n", $2, $3, $4, $NF > "/dev/stderr" }
        END {
            if (rows == 0) { print "the database names no keys: wrong WALLET_DATABASE_URL, or no ceremony yet" > "/dev/stderr"; exit 1 }
            exit bad > 0
        }'
}

# check_ca_services TRUST_JSON: for every active issuing CA in a saved
# GET /v1/trust document, its CRL is served and its signature verifies, and
# the OCSP responder signs a fresh answer that verifies against the roots.
# (A CRL is re-signed at most every 12 hours; an OCSP answer is signed for
# every request, so the OCSP check proves the responder key works now.)
check_ca_services() {
    local trust=${1:?usage: check_ca_services TRUST_JSON} work ids id subject
    work=$(mktemp -d)
    jq -r '.roots[].certificate_pem' "$trust" >"$work/roots.pem"
    ids=$(jq -r '.issuing_cas[] | select(.state == "active" and .current) | .key_id' "$trust")
    [ -n "$ids" ] || {
        rm -rf "$work"
        rb_err "no active issuing CA in $trust"
        return 1
    }
    for id in $ids; do
        jq -r --arg id "$id" '.issuing_cas[] | select(.key_id == $id and .current) | .certificate_pem' \
            "$trust" >"$work/ca.pem"
        subject=$(openssl x509 -in "$work/ca.pem" -noout -subject)
        if ! curl -fsS "$WALLET_URL/v1/crl/$id" -o "$work/crl.der" ||
            ! openssl crl -inform DER -in "$work/crl.der" -CAfile "$work/ca.pem" -noout \
                >"$work/crl.txt" 2>&1 ||
            ! grep -q 'verify OK' "$work/crl.txt"; then
            cat "$work/crl.txt" >&2 2>/dev/null || true
            rm -rf "$work"
            rb_err "$subject: CRL not served or does not verify"
            return 1
        fi
        if ! openssl ocsp -issuer "$work/ca.pem" -serial 0x01 -url "$WALLET_URL/ocsp" \
            -CAfile "$work/roots.pem" -no_nonce >"$work/ocsp.txt" 2>&1 ||
            ! grep -q 'Response verify OK' "$work/ocsp.txt"; then
            cat "$work/ocsp.txt" >&2
            rm -rf "$work"
            rb_err "$subject: OCSP answer missing or does not verify"
            return 1
        fi
        echo "$subject: CRL verify OK, OCSP verify OK"
    done
    rm -rf "$work"
}
