#!/usr/bin/env bash
# The one way to run a function over HTTP, used by make run, make stack, the Dockerfiles and the benchmarks:
#   scripts/serve.sh predict|train [--host H] [--port P]      (foreground; Ctrl-C or SIGTERM stops it)
# Every setting comes from the environment (docs/configuration.md). See service/http/server.py for
# why gunicorn + uvicorn workers, and the limits that protect the function from slow or huge requests.
set -euo pipefail
here=${0%/*}; [ "$here" = "$0" ] && here=.  # $(dirname "$0") without starting a process: 3 ms of each cold start
cd "$here/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3  # inside the images: the system interpreter has the dependencies
exec "$PY" -m functions "$@"
