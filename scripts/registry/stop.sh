#!/usr/bin/env bash
# Stops the registry started by start.sh and waits until it has exited. Its storage is in
# memory: the registered schemas go with it.
set -euo pipefail
source "$(dirname "$0")/env.sh"

mkdir -p "$REGISTRY_HOME"
exec 9>"$REGISTRY_HOME/lock"
flock 9

if [ ! -f "$REGISTRY_PID_FILE" ]; then
  exit 0
fi
pid="$(cat "$REGISTRY_PID_FILE")"
if kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid"
  deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      kill -KILL "$pid"
    fi
    sleep 0.2
  done
fi
rm -f "$REGISTRY_PID_FILE"
