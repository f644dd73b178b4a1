#!/usr/bin/env bash
# Checks against a live local stack (run through scripts/with-stack): the banner's
# credentials get a token, the token opens the API, no token is a 401, and Logto's official
# client (@logto/api, pinned in tests/node/package-lock.json) works unmodified.
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

echo "stack: @logto/api against $STACK_BASE_URL"
(cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
node --test tests/node/
