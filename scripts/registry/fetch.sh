#!/usr/bin/env bash
# Builds the runnable Apicurio Registry into .cache/registry/build from Maven Central (the
# application jar is published unpackaged; the Quarkus plugin packages it). Skips the work
# when the build for this pom is already there.
set -euo pipefail
source "$(dirname "$0")/env.sh"

stamp="$REGISTRY_HOME/.complete-$(cat "$ROOT/scripts/registry/pom.xml" \
  "$ROOT/scripts/registry/src/main/java/io/pidstream/registry/"*.java | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ -f "$REGISTRY_JAR" ]; then
  exit 0
fi
mkdir -p "$REGISTRY_HOME"
# Quarkus reads these at build time: the platform property is otherwise supplied by the
# Quarkus platform BOM, and the application's beans live in a dependency, which is indexed.
mvn -q -B -Dstyle.color=never -f "$ROOT/scripts/registry/pom.xml" package -DskipTests \
  -Dquarkus.native.builder-image=none -Dplatform.quarkus.native.builder-image=none \
  -Dquarkus.index-dependency.registry.group-id=io.apicurio \
  -Dquarkus.index-dependency.registry.artifact-id=apicurio-registry-app
touch "$stamp"
