#!/usr/bin/env bash
# `make run`: both functions on embedded defaults (file model store, SQLite log).
# On an empty model store it publishes the model this repository ships (verified), so the first curl
# is answered within seconds; `make train` trains a fresh one.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export LOG_FORMAT=${LOG_FORMAT:-text}  # the human format on a terminal; JSON lines are the default elsewhere
PREDICT_PORT=${PREDICT_PORT:-8080}
TRAIN_PORT=${TRAIN_PORT:-8081}
mkdir -p var
if [ -z "${TRAIN_TOKEN:-}" ]; then
  [ -s var/train-token ] || $PY -c 'import secrets; print(secrets.token_urlsafe(24))' > var/train-token
  TRAIN_TOKEN=$(cat var/train-token)
fi
export TRAIN_TOKEN

$PY -m scripts.starter_model

# scripts/serve.sh: gunicorn + uvicorn workers (2 for predict, one per core), slow clients cut off.
# Each server runs in its own process group (set -m): Ctrl-C reaches this script alone, which stops both
# gracefully, instead of every worker hearing SIGINT and each master warning about it.
set -m
scripts/serve.sh predict --port "$PREDICT_PORT" &
PREDICT=$!
scripts/serve.sh train --port "$TRAIN_PORT" &
TRAIN=$!
set +m
stop() {
  trap '' INT TERM
  kill -TERM "$PREDICT" "$TRAIN" 2>/dev/null || true
  wait "$PREDICT" "$TRAIN" 2>/dev/null || true
  echo "stopped both functions" >&2
  # under make, 0: make heard the same Ctrl-C and ends with it; 130 would add make's "Error 130" line
  [ -n "${MAKELEVEL:-}" ] && exit 0
  exit 130
}
trap stop INT TERM
trap 'kill -TERM $PREDICT $TRAIN 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$PREDICT_PORT/healthz" >/dev/null && break
  sleep 0.2
done
cat <<MSG

predict: http://127.0.0.1:$PREDICT_PORT  (open it in a browser: upload, draw, history; charts at /stats; or:)
  curl -F file=@tests/fixtures/golden/3_canvas.png http://127.0.0.1:$PREDICT_PORT
train:   http://127.0.0.1:$TRAIN_PORT
  curl -X POST -H "Authorization: Bearer $TRAIN_TOKEN" http://127.0.0.1:$TRAIN_PORT
  with the corrections made on the page:
  curl -X POST -H "Authorization: Bearer $TRAIN_TOKEN" -d '{"include_corrections": true}' http://127.0.0.1:$TRAIN_PORT
Ctrl-C stops both.
MSG
wait
