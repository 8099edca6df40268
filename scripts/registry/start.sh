#!/usr/bin/env bash
# Starts Apicurio Registry (in-memory storage) on 127.0.0.1:$REGISTRY_PORT (38081 unless
# PIDSTREAM_REGISTRY_PORT says otherwise) in the background, waits until its
# Confluent-compatible API answers, and prints that API's URL. Does nothing but print it when
# the registry is already running.
set -euo pipefail
source "$(dirname "$0")/env.sh"

mkdir -p "$REGISTRY_HOME"
exec 9>"$REGISTRY_HOME/lock"
flock 9

answers() { curl -s -o /dev/null -f "$REGISTRY_URL/subjects"; }

if [ -f "$REGISTRY_PID_FILE" ] && kill -0 "$(cat "$REGISTRY_PID_FILE")" 2>/dev/null; then
  echo "$REGISTRY_URL"
  exit 0
fi
if answers; then
  echo "start.sh: port $REGISTRY_PORT already serves something; set PIDSTREAM_REGISTRY_PORT" >&2
  exit 1
fi

bash "$ROOT/scripts/registry/fetch.sh"
touch "$REGISTRY_LOG"
setsid java -Xms64m -Xmx384m -XX:TieredStopAtLevel=1 \
  -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$REGISTRY_PORT" \
  -jar "$REGISTRY_JAR" >>"$REGISTRY_LOG" 2>&1 </dev/null 9>&- &
echo $! >"$REGISTRY_PID_FILE"

deadline=$((SECONDS + 120))
until answers; do
  if ! kill -0 "$(cat "$REGISTRY_PID_FILE")" 2>/dev/null; then
    echo "start.sh: the registry exited during start; see $REGISTRY_LOG" >&2
    rm -f "$REGISTRY_PID_FILE"
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "start.sh: the registry did not answer within 120 s; see $REGISTRY_LOG" >&2
    exit 1
  fi
  sleep 0.3
done
echo "$REGISTRY_URL"
