#!/usr/bin/env bash
# Creates pidstream's three Kafka topics (or brings their settings in line when they exist).
#
#   BOOTSTRAP=kafka-0:9092 deploy/kafka/create-topics.sh
#
# Settings, overridable by environment:
#   BOOTSTRAP            broker list (required)
#   REPLICATION          replication factor, default 3: one broker may fail, one more may be
#                        under maintenance, and acks=all still has two in-sync copies
#   MIN_ISR              min.insync.replicas, default 2: with the agent's acks=all, an event
#                        is acknowledged (and removed from the host's spool) only once two
#                        brokers hold it
#   TOPIC_PREFIX         default "pidstream": topics are PREFIX.exits, .coredumps, .agent
#   KAFKA_TOPICS         the topic tool, default kafka-topics.sh from a Kafka distribution
#   KAFKA_CONFIGS        the config tool, default kafka-configs.sh
#
# Choices, per topic:
#   cleanup.policy=delete everywhere: events are a history, not a table. Compaction would keep
#       only the last event of each key, and the key is the host name (so one host's events
#       stay ordered in one partition): compaction would erase every host's history.
#   partitions: exits 24 (the bulk: thousands of hosts at up to a few thousand exits per
#       second each; 24 lets a consumer group spread over 24 readers and keeps per-partition
#       throughput modest), coredumps 6 and agent 3 (rare events; ordering per host is all
#       that matters). Partitions can be added later but that moves hosts to other
#       partitions, so start with enough.
#   retention: exits 7 days (high volume; analytics copy what they keep), coredumps 90 days
#       (rare, and "since the last deploy" questions reach back weeks), agent 30 days (losses
#       and restarts explain gaps in the other two for as long as anyone asks about them).
#   max.message.bytes: coredump events carry module lists and a backtrace: 4 MiB; others 1 MiB.
#   message.timestamp.type=CreateTime: the event's own time, set by the agent.
#   compression.type=producer: keep the agent's gzip batches as they are.
set -euo pipefail

: "${BOOTSTRAP:?set BOOTSTRAP to the broker list, e.g. kafka-0:9092}"
REPLICATION="${REPLICATION:-3}"
MIN_ISR="${MIN_ISR:-2}"
TOPIC_PREFIX="${TOPIC_PREFIX:-pidstream}"
read -r -a topics_tool <<<"${KAFKA_TOPICS:-kafka-topics.sh}"
read -r -a configs_tool <<<"${KAFKA_CONFIGS:-kafka-configs.sh}"

DAY_MS=86400000

# name partitions retention_ms max_message_bytes
create() {
  local topic="$TOPIC_PREFIX.$1" partitions="$2" retention="$3" max_bytes="$4"
  local configs="cleanup.policy=delete,retention.ms=$retention,min.insync.replicas=$MIN_ISR"
  configs+=",max.message.bytes=$max_bytes,message.timestamp.type=CreateTime"
  configs+=",compression.type=producer"
  if "${topics_tool[@]}" --bootstrap-server "$BOOTSTRAP" --describe --topic "$topic" \
    >/dev/null 2>&1; then
    "${configs_tool[@]}" --bootstrap-server "$BOOTSTRAP" --alter --entity-type topics \
      --entity-name "$topic" --add-config "$configs" >/dev/null
    echo "updated $topic"
  else
    local args=(--bootstrap-server "$BOOTSTRAP" --create --topic "$topic")
    args+=(--partitions "$partitions" --replication-factor "$REPLICATION")
    for c in ${configs//,/ }; do args+=(--config "$c"); done
    "${topics_tool[@]}" "${args[@]}" >/dev/null
    echo "created $topic"
  fi
}

create exits 24 $((7 * DAY_MS)) 1048576
create coredumps 6 $((90 * DAY_MS)) 4194304
create agent 3 $((30 * DAY_MS)) 1048576
