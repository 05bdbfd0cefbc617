#!/usr/bin/env bash
# Starts N instances on consecutive ports sharing one Redis, to try scale-out on one machine.
#   npm run start:cluster                 # 2 instances on 3001, 3002, Redis at redis://127.0.0.1:6379
#   INSTANCES=3 PORT=4001 REDIS_URL=redis://127.0.0.1:6380 npm run start:cluster
# Ctrl-C (or SIGTERM) stops them all gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${INSTANCES:-2}
base=${PORT:-3001}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
pids=()
stop () { kill -TERM "${pids[@]}" 2>/dev/null || true; wait; }
trap stop INT TERM
for ((i = 0; i < n; i++)); do
  PORT=$((base + i)) node dist/src/server.js &
  pids+=($!)
  echo "instance $((i + 1)): http://${HOST:-127.0.0.1}:$((base + i))/ (pid $!)"
done
wait
