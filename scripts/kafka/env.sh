# Shared settings of the local Kafka scripts; sourced, not run.
# PIDSTREAM_KAFKA_PORT and PIDSTREAM_KAFKA_CONTROLLER_PORT override the uncommon defaults.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KAFKA_HOME="$ROOT/.cache/kafka"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_DATA="$KAFKA_HOME/data"
KAFKA_PORT="${PIDSTREAM_KAFKA_PORT:-39092}"
KAFKA_CONTROLLER_PORT="${PIDSTREAM_KAFKA_CONTROLLER_PORT:-39093}"
KAFKA_PID_FILE="$KAFKA_HOME/broker.pid"
KAFKA_LOG="$KAFKA_HOME/broker.log"
