# Shared settings of the local schema registry scripts; sourced, not run.
# PIDSTREAM_REGISTRY_PORT overrides the uncommon default port.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
REGISTRY_HOME="$ROOT/.cache/registry"
REGISTRY_PORT="${PIDSTREAM_REGISTRY_PORT:-38081}"
REGISTRY_JAR="$REGISTRY_HOME/build/registry-runtime-1-runner.jar"
REGISTRY_PID_FILE="$REGISTRY_HOME/registry.pid"
REGISTRY_LOG="$REGISTRY_HOME/registry.log"
# The Confluent-compatible API of Apicurio Registry 2.x.
REGISTRY_URL="http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v6"
