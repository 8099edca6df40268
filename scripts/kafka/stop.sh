#!/usr/bin/env bash
# Stops the broker started by start.sh (SIGTERM: a controlled shutdown that keeps its data)
# and waits until it has exited. Does nothing when it is not running.
set -euo pipefail
source "$(dirname "$0")/env.sh"

if [ ! -f "$KAFKA_PID_FILE" ]; then
  exit 0
fi
pid="$(cat "$KAFKA_PID_FILE")"
if kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid"
  deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "stop.sh: broker $pid ignored SIGTERM for 60 s; sending SIGKILL" >&2
      kill -KILL "$pid"
    fi
    sleep 0.2
  done
fi
rm -f "$KAFKA_PID_FILE"
