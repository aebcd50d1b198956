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
OSMAND_PORT=${OSMAND_PORT:-$((PORT + 1))} H02_PORT=${H02_PORT:-$((PORT + 2))}
export VIGIL_HTTP_LISTEN=127.0.0.1:$PORT VIGIL_GT06_LISTEN=off VIGIL_JT808_LISTEN=off \
  VIGIL_H02_LISTEN=127.0.0.1:$H02_PORT VIGIL_OSMAND_LISTEN=127.0.0.1:$OSMAND_PORT VIGIL_MQTT_LISTEN=off \
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
# One object of every kind, each with id 1 (the document's example path id), so that the
# example phase gets real 2xx answers and checks them against their schemas.
api() { # METHOD PATH [JSON]
  curl -fs -X "$1" "http://127.0.0.1:$PORT/api/v1$2" -H "authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' ${3:+-d "$3"} >/dev/null
}
api POST /devices '{"unique_id":"359710040000001"}'
api POST /units '{"name":"Patrol 1","default":true}'
api POST /users '{"email":"owner@example.com","password":"owner-password","role":"owner","display_name":"Owner","phone":"+48 600 000 000"}'
api PUT /devices/1/owner '{"owner_id":2}'
api POST /devices/1/shares '{"user_id":1}'
api POST /keys '{"name":"ci","scopes":["devices:read"]}'
api POST /fences '{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[21.0,52.0],[21.2,52.0],[21.2,52.2],[21.0,52.2],[21.0,52.0]]]},"properties":{"kind":"keep_in","name":"Zone"}}'
api POST /devices/1/fences '{"fence_id":1}'
api POST /webhooks '{"url":"http://127.0.0.1:9/hook","secret":"0123456789abcdef"}'
# Fixes over OsmAnd (a short drive), then an SOS over H02 (status bit 1 cleared): an alarm.
now=$(date +%s)
for i in 0 1 2 3 4 5 6 7 8 9; do
  curl -fs -o /dev/null "http://127.0.0.1:$OSMAND_PORT/?id=359710040000001&timestamp=$((now - 3600 + i * 60))&lat=52.1$i&lon=21.05&speed=20"
done
exec 3<>"/dev/tcp/127.0.0.1/$H02_PORT"
printf '*HQ,359710040000001,V1,%s,A,5206.00000,N,02103.00000,E,0.00,0,%s,FFFFFFFD#' \
  "$(date -u +%H%M%S)" "$(date -u +%d%m%y)" >&3
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$PORT/api/v1/alarms/1" -H "authorization: Bearer $TOKEN" >/dev/null && break
  sleep 0.2
done
exec 3>&-
api POST /devices/1/commands '{"type":"locate"}'
api POST /devices/1/arm
api PUT /devices/1/speed-limit '{"limit_kmh":90}'
# Logging out would revoke the token the run uses; the matrix test covers that route. The
# Traccar-compatible routes (tag `traccar`) answer in Traccar's shapes (202 for a queued
# command, forms, cookies); pytraccar itself checks them (tests/api/traccar_client.rs).
"$ST" run "http://127.0.0.1:$PORT/api/v1/openapi.json" \
  -H "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --exclude-operation-id session.logout --exclude-tag traccar \
  --max-examples "${MAX_EXAMPLES:-50}" "$@"
status=$?
if grep -q "panicked" "$WORK/vigil.log"; then echo "server panicked:"; grep -A5 panicked "$WORK/vigil.log"; exit 1; fi
exit $status
