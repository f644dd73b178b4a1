#!/usr/bin/env bash
# The local stack's data survives a restart: the emulator (scripts/moto_server.py with a state
# file) is stopped by SIGTERM, then by SIGINT, and started again each time; an app created
# before each stop is still there after, with everything created before it.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$REPO_ROOT"

dir="$(mktemp -d)"
port="$(free_port)"
MOTO_PID=""
trap 'if [ -n "$MOTO_PID" ]; then kill "$MOTO_PID" 2>/dev/null || true; fi; rm -rf "$dir"' EXIT
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
usersctl() { cargo run --quiet -p admin --bin usersctl -- "$@"; }

created=()
for signal in TERM INT; do
    start_moto "$port" "$dir/moto.log" "$dir/dynamodb.pickle"
    usersctl setup >/dev/null
    created+=("$(usersctl apps create "before-$signal" all 2>/dev/null | sed -n "s/^client_id=//p")")
    kill "-$signal" "$MOTO_PID"
    wait "$MOTO_PID" || { echo "persistence: moto exited with an error on SIG$signal" >&2; cat "$dir/moto.log" >&2; exit 1; }
    MOTO_PID=""
    start_moto "$port" "$dir/moto.log" "$dir/dynamodb.pickle"
    listed="$(usersctl apps list)"
    for id in "${created[@]}"; do
        grep -q "^$id	" <<<"$listed" || { echo "persistence: app $id lost after SIG$signal" >&2; exit 1; }
    done
    echo "persistence: after SIG$signal and a restart, the emulator still holds ${#created[@]} app(s) created before"
    kill "$MOTO_PID"; wait "$MOTO_PID" || true; MOTO_PID=""
done
