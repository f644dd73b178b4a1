#!/usr/bin/env bash
# Checks against a live local stack (run through scripts/with-stack): the banner's
# credentials get a token, the token opens the API, no token is a 401, the local API Gateway
# answers as API Gateway does, schemathesis finds no 5xx and no response outside
# docs/openapi.json, and Logto's official client (@logto/api,
# pinned in tests/node/package-lock.json) works unmodified.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${STACK_BASE_URL:?run through scripts/with-stack}"

token_json="$(curl -sf -u "$STACK_CLIENT_ID:$STACK_CLIENT_SECRET" -d grant_type=client_credentials \
    -d resource=https://default.logto.app/api -d scope=all "$STACK_BASE_URL/oidc/token")"
token="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' <<<"$token_json")"
with_token="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$STACK_BASE_URL/api/users")"
without="$(curl -s -o /dev/null -w '%{http_code}' "$STACK_BASE_URL/api/users")"
echo "stack: GET /api/users with the seeded app's token -> $with_token, without a token -> $without"
[ "$with_token" = "200" ] && [ "$without" = "401" ]

# Each request wrote its access line, readable in the stack's terminal.
grep -q "^users GET /api/users 200 .* client=$STACK_CLIENT_ID" "$STACK_LOG"
grep -q "^users GET /api/users 401 .* code=auth.authorization_header_missing" "$STACK_LOG"
echo "stack: the access lines of both requests are in the stack's output"

# The local secrets (signing keys, the app's secret, the page-token key) are the user's alone.
state="${STACK_STATE_DIR:-.stack}"
state_mode="$(stat -c %a "$state")"
loose="$(find "$state" -type f ! -perm 600)"
echo "stack: its state folder is mode $state_mode; files readable by others: ${loose:-none}"
[ "$state_mode" = "700" ] && [ -z "$loose" ]

# The local API Gateway (scripts/local_gateway.py) answers as API Gateway does: a path no
# route names reaches the $default function (the product's 404, not a list of binaries), a
# body that is not UTF-8 reaches the function base64-encoded (the product's 400, not a 500),
# and the event carries the client's User-Agent.
auth=(-H "Authorization: Bearer $token")
unknown="$(curl -s -w ' %{http_code}' "${auth[@]}" "$STACK_BASE_URL/api/no-such-route")"
echo "stack: GET /api/no-such-route -> $unknown"
[ "$unknown" = '{"code":"guard.route_not_found","message":"The route does not exist."} 404' ]
not_utf8="$(printf '\xff\xfe{' | curl -s -w ' %{http_code}' "${auth[@]}" -H 'content-type: application/json' \
    --data-binary @- "$STACK_BASE_URL/api/users")"
echo "stack: POST /api/users with a body that is not UTF-8 -> $not_utf8"
[[ "$not_utf8" == *'"code":"guard.invalid_input"'*' 400' ]]
chunked="$(printf '{"username":"chunked_%s"}' "$RANDOM$RANDOM" | curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" \
    -H 'content-type: application/json' -H 'transfer-encoding: chunked' --data-binary @- "$STACK_BASE_URL/api/users")"
# The front door answers 413 once it knows the length and may close before curl has sent the
# rest: curl then exits 55 (send failure), with or without the answer. Sent again if none came.
for _ in 1 2 3; do
    too_large="$(head -c 11000000 /dev/zero | curl -s -w ' %{http_code}' "${auth[@]}" --data-binary @- \
        "$STACK_BASE_URL/api/users" || true)"
    [[ "$too_large" == *' 000' ]] || break
done
echo "stack: POST /api/users with a chunked body -> $chunked; with 11 MB -> $too_large"
[ "$chunked" = "200" ] && [ "$too_large" = '{"message":"Request Entity Too Large"} 413' ]
agent="stack-check/$RANDOM"
user_id="$(curl -sf "${auth[@]}" -A "$agent" -H 'content-type: application/json' \
    -d "{\"username\":\"agent_$RANDOM$RANDOM\"}" "$STACK_BASE_URL/api/users" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
recorded="$(curl -sf "${auth[@]}" "$STACK_BASE_URL/api/logs?userId=$user_id" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["payload"]["userAgent"])')"
echo "stack: a user created with User-Agent $agent; its activity entry records $recorded"
[ "$recorded" = "$agent" ]

# Every event runs with the command events/README.md documents and answers the status its
# table lists (each run creates what it needs, so the order does not matter); the table names
# every file.
invoked=0
while IFS='|' read -r _ name _ status _; do
    name="$(xargs <<<"$name")"; expected="$(grep -oE '^ *[0-9]{3}' <<<"$status" | xargs)"
    answer="$(scripts/invoke "$name")"
    got="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["statusCode"])' <<<"$answer")"
    echo "stack: scripts/invoke $name -> $got (events/README.md: $expected)"
    [ "$got" = "$expected" ]
    invoked=$((invoked + 1))
done < <(grep -E '^\| [a-z-]+ \| [A-Z]+ /' events/README.md)
# The stream event goes to the webhook deliveries, which answer Lambda's partial batch response.
while IFS='|' read -r _ name _; do
    name="$(xargs <<<"$name")"
    answer="$(scripts/invoke "$name")"
    echo "stack: scripts/invoke $name -> $answer"
    [ "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["batchItemFailures"])' <<<"$answer")" = "[]" ]
    invoked=$((invoked + 1))
done < <(grep -E '^\| [a-z-]+ \| the logs table' events/README.md)
files="$(find events -name '*.json' | wc -l)"
echo "stack: $invoked events invoked, $files files in events/"
[ "$invoked" = "$files" ]

echo "stack: $(date -u +%T) webhooks end to end (the stream poller, hook-deliveries, a receiver here)"
.venv/bin/python tests/stack/webhooks.py "$STACK_BASE_URL" "$token" "http://127.0.0.1:$MOTO_PORT"

echo "stack: $(date -u +%T) log counters end to end (the stream poller, log-counts)"
.venv/bin/python tests/stack/log_counts.py "$STACK_BASE_URL" "$token" "http://127.0.0.1:$MOTO_PORT"

echo "stack: $(date -u +%T) schemathesis against $STACK_BASE_URL/api/swagger.json"
# Its defaults: every phase (stateful too), both modes (valid and invalid inputs, bodies that
# are not UTF-8 included). Run from a scratch folder: Hypothesis writes its database into the
# working directory, and the watcher restarts the functions on any change in the repository.
repo="$PWD"
(cd "$(mktemp -d)" && "$repo/.venv/bin/schemathesis" run "$STACK_BASE_URL/api/swagger.json" \
    -H "Authorization: Bearer $token" --max-examples 5 \
    --checks not_a_server_error,response_schema_conformance --request-timeout 30 --seed 1)

echo "stack: $(date -u +%T) @logto/api against $STACK_BASE_URL"
(cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
node --test tests/node/
