#!/usr/bin/env bash
# Stops the broker started by start.sh (SIGTERM: a controlled shutdown that keeps its data)
# and waits until it has exited. Does nothing when it is not running.
set -euo pipefail
source "$(dirname "$0")/env.sh"

# One start or stop at a time: test runs on one machine may call these at the same moment.
mkdir -p "$KAFKA_HOME"
exec 9>"$KAFKA_HOME/lock"
flock 9

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
