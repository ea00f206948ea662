#!/usr/bin/env bash
# Runs every test: unit tests, store suites on SQLite and PostgreSQL, and the gateway's
# integration tests (in-process gateway, real publisher servers, official Twilio SDK).
set -euo pipefail
cd "$(dirname "$0")/.."
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast "$@"
    cargo test --workspace --locked --doc
else
    cargo test --workspace --locked --no-fail-fast "$@"
fi
