#!/usr/bin/env bash
# Installs everything pidstream and its tests need on a fresh Debian machine, then builds.
# Safe to run again: each step skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v gcc >/dev/null || need_apt+=(gcc)
command -v readelf >/dev/null || need_apt+=(binutils)
# systemd-analyze and systemd-tmpfiles check the deploy/systemd files; setpriv runs the
# capability and `status` tests as other users.
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
command -v setpriv >/dev/null || need_apt+=(util-linux)
# The Kafka broker the tests run is Apache's own jars, fetched with Maven; it needs Java 17+.
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
# The schema registry's start script polls its API with curl.
command -v curl >/dev/null || need_apt+=(curl)
# The Kubernetes manifest test parses the YAML with PyYAML.
python3 -c 'import yaml' 2>/dev/null || need_apt+=(python3-yaml)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

npm install --no-audit --no-fund

# Broker jars into .cache/kafka/libs and the schema registry into .cache/registry now, so the
# first test run does not spend its time there.
bash scripts/kafka/fetch.sh
bash scripts/registry/fetch.sh
