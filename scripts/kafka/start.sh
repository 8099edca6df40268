#!/usr/bin/env bash
# Starts a single-node KRaft Kafka broker on 127.0.0.1:$KAFKA_PORT (39092 unless
# PIDSTREAM_KAFKA_PORT says otherwise) in the background and waits until it serves clients.
# Its data lives in .cache/kafka/data, its log in .cache/kafka/broker.log. Prints the bootstrap
# address. Does nothing but print it when the broker is already running.
set -euo pipefail
source "$(dirname "$0")/env.sh"

# One start or stop at a time: test runs on one machine may call these at the same moment.
mkdir -p "$KAFKA_HOME"
exec 9>"$KAFKA_HOME/lock"
flock 9

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; }

if [ -f "$KAFKA_PID_FILE" ] && kill -0 "$(cat "$KAFKA_PID_FILE")" 2>/dev/null; then
  echo "127.0.0.1:$KAFKA_PORT"
  exit 0
fi
if port_open; then
  echo "start.sh: port $KAFKA_PORT is taken by another process; set PIDSTREAM_KAFKA_PORT" >&2
  exit 1
fi

bash "$ROOT/scripts/kafka/fetch.sh"
mkdir -p "$KAFKA_DATA"
config="$KAFKA_HOME/server.properties"
sed -e "s#@DATA@#$KAFKA_DATA#" -e "s#@PORT@#$KAFKA_PORT#" \
  -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#" \
  "$ROOT/scripts/kafka/server.properties.in" >"$config"

java_opts=(-Xms256m -Xmx768m -XX:+UseG1GC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$ROOT/scripts/kafka/log4j2.properties")
# A data directory formatted for another port layout would not start: format it afresh.
if [ ! -f "$KAFKA_DATA/meta.properties" ] || [ "$(cat "$KAFKA_HOME/formatted-for" 2>/dev/null)" != "$KAFKA_PORT:$KAFKA_CONTROLLER_PORT" ]; then
  rm -rf "$KAFKA_DATA"
  mkdir -p "$KAFKA_DATA"
  cluster_id="$(python3 -c 'import base64,uuid;print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')"
  java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$config" >"$KAFKA_HOME/format.log" 2>&1
  echo "$KAFKA_PORT:$KAFKA_CONTROLLER_PORT" >"$KAFKA_HOME/formatted-for"
fi

touch "$KAFKA_LOG"
setsid java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$config" \
  >>"$KAFKA_LOG" 2>&1 </dev/null 9>&- &
echo $! >"$KAFKA_PID_FILE"

# Ready means the broker logged its start and accepts connections; 120 s covers a busy machine.
deadline=$((SECONDS + 120))
offset_marker="$(wc -c <"$KAFKA_LOG")"
until tail -c +"$((offset_marker - 4096 > 0 ? offset_marker - 4096 : 1))" "$KAFKA_LOG" |
  grep -q 'Kafka Server started' && port_open; do
  if ! kill -0 "$(cat "$KAFKA_PID_FILE")" 2>/dev/null; then
    echo "start.sh: the broker exited during start; see $KAFKA_LOG" >&2
    rm -f "$KAFKA_PID_FILE"
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "start.sh: the broker did not start within 120 s; see $KAFKA_LOG" >&2
    exit 1
  fi
  sleep 0.2
done
echo "127.0.0.1:$KAFKA_PORT"
