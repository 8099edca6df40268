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
# The rdkafka transport (@confluentinc/kafka-javascript) compiles librdkafka from the source in
# its package: a C/C++ toolchain, and zlib and OpenSSL headers found through pkg-config.
command -v g++ >/dev/null || need_apt+=(g++)
command -v make >/dev/null || need_apt+=(make)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
[ -f /usr/include/zlib.h ] || need_apt+=(zlib1g-dev)
[ -f /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
# The core store tests read stored cores back with the zstd command (libzstd1 comes with it).
command -v zstd >/dev/null || need_apt+=(zstd)
# `pidstream query` inflates container-file blocks with libdeflate (native/libdeflate.ts).
ldconfig -p | grep -q 'libdeflate\.so\.0 ' || need_apt+=(libdeflate0)
# The Kubernetes manifest test parses the YAML with PyYAML.
python3 -c 'import yaml' 2>/dev/null || need_apt+=(python3-yaml)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# @confluentinc/kafka-javascript is built here, never fetched: build_from_source skips the
# prebuilt binary its installer would download from outside the package registry, and
# CKJS_LINKING=dynamic links librdkafka against the system's zlib and OpenSSL (its static build
# downloads their sources). Node's own headers, where the system has them, save node-gyp the
# download of the headers too.
node_prefix="$(dirname "$(dirname "$(command -v node)")")"
if [ -f "$node_prefix/include/node/node.h" ]; then export npm_config_nodedir="$node_prefix"; fi
CKJS_LINKING=dynamic npm_config_build_from_source=true npm install --no-audit --no-fund
# An optional dependency that failed to build is left out silently; here that is an error.
node -e "require('@confluentinc/kafka-javascript')" || {
  echo "setup.sh: @confluentinc/kafka-javascript (the rdkafka transport) did not build" >&2
  exit 1
}

# Broker jars into .cache/kafka/libs and the schema registry into .cache/registry now, so the
# first test run does not spend its time there.
bash scripts/kafka/fetch.sh
bash scripts/registry/fetch.sh
