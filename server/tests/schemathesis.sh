#!/usr/bin/env bash
# Runs schemathesis (PyPI) against the OpenAPI document the server serves: starts `vigil` on
# a throw-away SQLite database (or VIGIL_DATABASE_URL), logs in as the administrator and
# checks that no generated request gets a 5xx and every response matches the document.
#
#   pip install schemathesis          # once (a venv is fine: SCHEMATHESIS=/path/to/schemathesis)
#   server/tests/schemathesis.sh      # from the workspace root; extra args go to schemathesis
set -euo pipefail
cd "$(dirname "$0")/../.."
ST=${SCHEMATHESIS:-schemathesis}
PORT=${PORT:-18082}
WORK=$(mktemp -d)
cargo build -q -p vigil-server --bin vigil
export VIGIL_DATABASE_URL=${VIGIL_DATABASE_URL:-sqlite://$WORK/vigil.db}
export VIGIL_HTTP_LISTEN=127.0.0.1:$PORT VIGIL_GT06_LISTEN=off VIGIL_JT808_LISTEN=off \
  VIGIL_H02_LISTEN=off VIGIL_OSMAND_LISTEN=off VIGIL_MQTT_LISTEN=off \
  VIGIL_ADMIN_EMAIL=admin@example.com VIGIL_ADMIN_PASSWORD=schemathesis-admin
target/debug/vigil serve >"$WORK/vigil.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$PORT/health" >/dev/null && break
  sleep 0.2
done
TOKEN=$(curl -fs -X POST "http://127.0.0.1:$PORT/api/v1/session" -H 'content-type: application/json' \
  -d '{"email":"admin@example.com","password":"schemathesis-admin"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# A device with a few fixes so object routes have something to find.
curl -fs -X POST "http://127.0.0.1:$PORT/api/v1/devices" -H "authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d '{"unique_id":"359710040000001"}' >/dev/null
# Logging out would revoke the token the run uses; the matrix test covers that route.
"$ST" run "http://127.0.0.1:$PORT/api/v1/openapi.json" \
  -H "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --exclude-operation-id session.logout \
  --max-examples "${MAX_EXAMPLES:-50}" "$@"
status=$?
if grep -q "panicked" "$WORK/vigil.log"; then echo "server panicked:"; grep -A5 panicked "$WORK/vigil.log"; exit 1; fi
exit $status
