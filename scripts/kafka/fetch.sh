#!/usr/bin/env bash
# Copies Apache Kafka's broker and tools jars (and their dependencies) from Maven Central into
# .cache/kafka/libs. Skips the work when the jars are already there.
set -euo pipefail
source "$(dirname "$0")/env.sh"

stamp="$KAFKA_LIBS/.complete-$(sha256sum "$ROOT/scripts/kafka/pom.xml" | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
rm -rf "$KAFKA_LIBS"
mkdir -p "$KAFKA_LIBS"
mvn -q -B -Dstyle.color=never -f "$ROOT/scripts/kafka/pom.xml" dependency:copy-dependencies \
  -DoutputDirectory="$KAFKA_LIBS"
touch "$stamp"
