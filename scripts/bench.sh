#!/usr/bin/env bash
# Benchmarks the gateway against nginx and the bare publisher, in one run:
#
#   bash scripts/bench.sh [bench run options, e.g. --duration 5 --variants sqlite,postgres]
#   bash scripts/bench.sh instructions [bench instructions options, e.g. --requests 500]
#
# The second form counts the CPU instructions per request under valgrind's callgrind instead
# (repeatable on a busy machine; valgrind is installed when missing).
#
# Installs wrk and nginx when missing, builds the bench and the gateway in release mode, runs
# `bench run` with the arguments given, and stops every process it started, even on failure
# or Ctrl-C. Results: bench/results/latest.json, latest.md and <timestamp>.json.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

subcommand=run
if [ "${1:-}" = instructions ]; then
    subcommand=instructions
    shift
fi

missing=()
if [ "$subcommand" = instructions ]; then
    command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
else
    command -v wrk >/dev/null 2>&1 || missing+=(wrk)
    command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# PostgreSQL is wanted unless --variants leaves it out (the instruction count uses SQLite).
wants_postgres=1
[ "$subcommand" = run ] || wants_postgres=0
previous=""
for argument in "$@"; do
    case "$argument" in
        --variants=*) [[ "${argument#--variants=}" == *postgres* ]] || wants_postgres=0 ;;
    esac
    if [ "$previous" = "--variants" ] && [[ "$argument" != *postgres* ]]; then
        wants_postgres=0
    fi
    previous="$argument"
done

started_postgres=()
bench_pid=""

cleanup() {
    trap - EXIT INT TERM
    if [ -n "$bench_pid" ]; then
        # The bench leads its own process group: the publisher, nginx and the gateway are in
        # it. SIGTERM lets the bench stop them and drop its databases; SIGKILL what is left.
        kill -TERM -- "-$bench_pid" 2>/dev/null || true
        for _ in $(seq 1 150); do
            kill -0 -- "-$bench_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$bench_pid" 2>/dev/null || true
    fi
    for version in "${started_postgres[@]}"; do
        echo "stopping the PostgreSQL $version cluster this script started" >&2
        pg_ctlcluster --skip-systemctl-redirect "$version" main stop || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$wants_postgres" = 1 ] && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
        for dir in /etc/postgresql/*; do
            version="$(basename "$dir")"
            echo "PostgreSQL is down; starting the $version cluster" >&2
            if pg_ctlcluster --skip-systemctl-redirect "$version" main start; then
                started_postgres+=("$version")
            fi
        done
        for _ in $(seq 1 30); do
            pg_isready -h 127.0.0.1 -p 5432 -q && break
            sleep 1
        done
    fi
fi

cargo build --release --locked -p bench -p addons-gateway

# In its own session (so its own process group) for the cleanup above; in the background so
# that this shell can run its traps while waiting.
setsid target/release/bench "$subcommand" "$@" &
bench_pid=$!
status=0
wait "$bench_pid" || status=$?
exit "$status"
