#!/usr/bin/env bash
# `make dev`: the whole product on this machine.
#   the AWS endpoint (IAM enforced)   http://127.0.0.1:$MOTO_PORT  (default 4566): the IAM gate,
#                                     each caller held to its policy in template.yaml, in front of
#   moto's server (DynamoDB, SQS, SSM) http://127.0.0.1:$MOTO_BACKEND_PORT (default 4567)
#   the FChat simulator               http://127.0.0.1:$FCHAT_PORT (default 9001)
#   the functions (built binaries)    http://127.0.0.1:$INVOKE_PORT (default 9010, Invoke API)
#   the local API gateway             http://127.0.0.1:$API_PORT   (default 9000)
#   the delivery queue's poller       (feeds SQS batches to the delivery function)
#   the demo apps' webhook receiver   http://127.0.0.1:$WEBHOOK_PORT (default 9002)
#   the console (a web page)          http://127.0.0.1:$CONSOLE_PORT/_console (default 9003)
# Tenants come from $SEED_FILE (default infra/local/seed.json): the simulator knows its users and
# its groups' chats; its apps without a webhook_url post to the receiver, each at
# /webhook/{app}. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/../.."

API_PORT=${API_PORT:-9000}
MOTO_PORT=${MOTO_PORT:-4566}
MOTO_BACKEND_PORT=${MOTO_BACKEND_PORT:-4567}
INVOKE_PORT=${INVOKE_PORT:-9010}
FCHAT_PORT=${FCHAT_PORT:-9001}
FCHAT_BOT_TOKEN=${FCHAT_BOT_TOKEN:-local-bot-token}
FCHAT_CALLBACK_SECRET=${FCHAT_CALLBACK_SECRET:-local-callback-secret}
WEBHOOK_PORT=${WEBHOOK_PORT:-9002}
CONSOLE_PORT=${CONSOLE_PORT:-9003}
SEED_FILE=${SEED_FILE:-infra/local/seed.json}
# FChat's rate limits in the simulator: on or off (docs/fchat-api.md#limits).
export FCHAT_LIMITS=${FCHAT_LIMITS:-off}
VENV=.venv

export AWS_ENDPOINT_URL="http://127.0.0.1:${MOTO_PORT}"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1

for port in "$API_PORT" "$MOTO_PORT" "$MOTO_BACKEND_PORT" "$INVOKE_PORT" "$FCHAT_PORT" "$WEBHOOK_PORT" "$CONSOLE_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
    echo "make dev: port ${port} is in use; set API_PORT, MOTO_PORT, MOTO_BACKEND_PORT, INVOKE_PORT, FCHAT_PORT, WEBHOOK_PORT or CONSOLE_PORT" >&2
    exit 1
  fi
done

echo "==> building the local stack and the functions"
cargo build --quiet -p fchat-local -p fchat-admin -p fchat-simulator -p ingest -p delivery -p callback

pids=()
stop() {
  trap - EXIT INT TERM
  # Whatever reads our output may be gone already (a pipe closed by the same Ctrl-C).
  trap '' PIPE
  for pid in "${pids[@]}"; do kill -TERM -- "-${pid}" 2>/dev/null || kill -TERM "${pid}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "==> stopped" 2>/dev/null || true
}
trap stop EXIT INT TERM
set -m # each background job in its own process group, so that stopping one stops its children

wait_for_port() {
  local port=$1 what=$2
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "make dev: ${what} did not start on port ${port}" >&2
  exit 1
}

mkdir -p .dev
echo "==> starting moto on 127.0.0.1:${MOTO_BACKEND_PORT}"
"${VENV}/bin/moto_server" -H 127.0.0.1 -p "${MOTO_BACKEND_PORT}" >.dev/moto.log 2>&1 &
pids+=($!)
wait_for_port "${MOTO_BACKEND_PORT}" "moto"

# Every AWS call goes through the IAM gate: each function under its own role from
# template.yaml, fchat-admin under OperatorPolicy; the key "testing" is the administrator.
echo "==> the AWS endpoint ${AWS_ENDPOINT_URL}: template.yaml's policies enforced (a refusal is printed here)"
target/debug/fchat-local iam --port "${MOTO_PORT}" --upstream "http://127.0.0.1:${MOTO_BACKEND_PORT}" \
  --param "FChatApiUrl=http://127.0.0.1:${FCHAT_PORT}" >.dev/iam.log &
pids+=($!)
wait_for_port "${MOTO_PORT}" "the IAM gate"

# The secrets go into moto's SSM Parameter Store as SecureStrings; the functions get their names.
echo "==> creating what template.yaml declares, loading ${SEED_FILE}"
target/debug/fchat-local setup --seed "${SEED_FILE}" --env-file .dev/functions.env \
  --param "FChatApiUrl=http://127.0.0.1:${FCHAT_PORT}" --param "FCHAT_BOT_TOKEN=${FCHAT_BOT_TOKEN}" \
  --param "FCHAT_CALLBACK_SECRET=${FCHAT_CALLBACK_SECRET}" \
  --webhook-receiver "http://127.0.0.1:${WEBHOOK_PORT}" --simulator "http://127.0.0.1:${FCHAT_PORT}"

echo "==> starting the FChat simulator on 127.0.0.1:${FCHAT_PORT}"
target/debug/fchat-simulator --port "${FCHAT_PORT}" --seed "${SEED_FILE}" --token "${FCHAT_BOT_TOKEN}" \
  --callback-url "http://127.0.0.1:${API_PORT}/callback/fchat" --callback-secret "${FCHAT_CALLBACK_SECRET}" \
  --limits "${FCHAT_LIMITS}" &
pids+=($!)
wait_for_port "${FCHAT_PORT}" "the FChat simulator"

# Runs "$@" until it succeeds, while the background job $1 runs (30 s at most).
wait_until() {
  local pid=$1 what=$2
  shift 2
  for _ in $(seq 1 300); do
    "$@" && return 0
    if ! kill -0 "${pid}" 2>/dev/null; then
      echo "make dev: ${what} stopped" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "make dev: ${what} did not get ready" >&2
  exit 1
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# GET http://127.0.0.1:$1$2 with bash alone; prints the whole answer.
http_get() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3
    timeout 5 cat <&3
  ) 2>/dev/null
}
# A request through the gateway that the ingest function answers (with the contract's 404).
gateway_answers() { http_get "${API_PORT}" /_ready | grep -q '"ok":false'; }

# The binaries just built, under the Lambda runtime emulator: nothing rebuilds after "ready".
# It listens once every function has initialized; a function process that dies is started
# again for the next invocation.
echo "==> serving the functions on 127.0.0.1:${INVOKE_PORT}"
target/debug/fchat-local functions --port "${INVOKE_PORT}" --env-file .dev/functions.env &
pids+=($!)
wait_until "$!" "serving the functions" port_open "${INVOKE_PORT}"

target/debug/fchat-local gateway --port "${API_PORT}" --invoke "http://127.0.0.1:${INVOKE_PORT}" &
pids+=($!)
wait_until "$!" "the local API gateway" gateway_answers

rm -f .dev/poller.ready
target/debug/fchat-local poller --invoke "http://127.0.0.1:${INVOKE_PORT}" --ready-file .dev/poller.ready &
pids+=($!)
wait_until "$!" "the delivery queue's poller" test -e .dev/poller.ready

echo "==> the demo apps' webhook receiver on 127.0.0.1:${WEBHOOK_PORT} (every app of ${SEED_FILE})"
target/debug/fchat-webhook-receiver --port "${WEBHOOK_PORT}" --seed "${SEED_FILE}" --echo &
pids+=($!)
wait_for_port "${WEBHOOK_PORT}" "the webhook receiver"

echo "==> the console on http://127.0.0.1:${CONSOLE_PORT}/_console"
target/debug/fchat-local console --port "${CONSOLE_PORT}" --seed "${SEED_FILE}" \
  --api "http://127.0.0.1:${API_PORT}" --simulator "http://127.0.0.1:${FCHAT_PORT}" \
  --receiver "http://127.0.0.1:${WEBHOOK_PORT}" --functions "http://127.0.0.1:${INVOKE_PORT}" &
pids+=($!)
wait_for_port "${CONSOLE_PORT}" "the console"

# The seed's first app, for the examples (placeholders when it has none).
read -r EXAMPLE_APP EXAMPLE_TOKEN EXAMPLE_EMAIL < <("${VENV}/bin/python" - "${SEED_FILE}" <<'PY'
import json, sys, urllib.parse
seed = json.load(open(sys.argv[1]))
app = (seed.get("apps") or [{"name": "APP_NAME", "token": "TOKEN"}])[0]
user = (seed.get("users") or [{"email": "someone@example.com"}])[0]
quote = lambda text: urllib.parse.quote(text, safe="")
print(quote(app["name"]), quote(app["token"]), json.dumps(user["email"]).strip('"'))
PY
)

cat <<MSG

The FChat gateway is running on http://127.0.0.1:${API_PORT}.

Open the console:      http://127.0.0.1:${CONSOLE_PORT}/_console
(FChat's chats as its users see them, acting as them, deliveries, every webhook request, faults)

Or try:

  curl -X POST http://127.0.0.1:${API_PORT}/webhooks/${EXAMPLE_APP}/${EXAMPLE_TOKEN} \\
    -H "Content-Type: application/json" \\
    -d '{"text": "System notification: All services running"}'

What FChat received:   curl http://127.0.0.1:${FCHAT_PORT}/_sim/messages
A message's status:    curl http://127.0.0.1:${API_PORT}/webhooks/${EXAMPLE_TOKEN}/messages/<context id>
Click a button:        curl -X POST http://127.0.0.1:${FCHAT_PORT}/_sim/act/click -d '{"message_id": "m-1", "button": 0}'
Reply as the user:     curl -X POST http://127.0.0.1:${FCHAT_PORT}/_sim/act/text -d '{"email": "${EXAMPLE_EMAIL}", "text": "ping"}'
(the demo app's receiver prints each event it gets, with whether its signature verified)

Ctrl-C stops everything.
MSG
wait
