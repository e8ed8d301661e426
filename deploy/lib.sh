# shellcheck shell=bash
# Helpers shared by deploy/run.sh and deploy/test.sh. Sourced, not run.
#
# The callers have already cd'ed to the repository root and set
# `set -euo pipefail`.

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# True when the Debian package is installed (not merely known or removed).
pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# Installs those of the named Debian packages that are missing. Runs
# `apt-get update` first, and only when something has to be installed.
apt_install_missing() {
    local missing=() p
    for p in "$@"; do
        pkg_installed "$p" || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 ||
        die "missing packages ${missing[*]} and no apt-get: install them by hand"
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}"
}

# Packages needed to compile the workspace: a C compiler (ring, the bundled
# SQLite), pkg-config and libpq (diesel's PostgreSQL backend).
build_packages() {
    printf '%s\n' pkg-config libpq-dev
    command -v cc >/dev/null 2>&1 || printf '%s\n' build-essential
}

# Makes sure cargo is on PATH (also under sudo, where ~/.cargo/bin is often
# missing from PATH). Debian's own cargo is too old for this workspace.
ensure_cargo() {
    command -v cargo >/dev/null 2>&1 && return 0
    if [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
        PATH="${HOME:-/root}/.cargo/bin:$PATH"
        export PATH
        return 0
    fi
    die "cargo not found: install a Rust toolchain (1.88 or newer) with rustup"
}

# Phase timing: `phase_begin NAME` ... `phase_end`. Each phase prints its
# elapsed time when it ends; PHASE_REPORT collects the lines.
PHASE_NAME=""
PHASE_START=0
PHASE_REPORT=()

now_us() { printf '%s\n' "${EPOCHREALTIME//[!0-9]/}"; }

phase_begin() {
    PHASE_NAME=$1
    PHASE_START=$(now_us)
    log "$PHASE_NAME"
}

phase_end() {
    local us line
    us=$(($(now_us) - PHASE_START))
    line=$(printf '%-12s %6d.%01ds' "$PHASE_NAME" $((us / 1000000)) $((us % 1000000 / 100000)))
    PHASE_REPORT+=("$line")
    printf '    done: %s\n' "$line" >&2
}
