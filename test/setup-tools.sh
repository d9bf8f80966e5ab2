#!/bin/sh
# Installs what the tests need beyond npm packages when it is missing: kcat (librdkafka) from Debian.
# Java 17+ and Maven must already be there (they fetch and run Kafka); this checks for them.
set -eu
missing=""
command -v java >/dev/null 2>&1 || missing="$missing java(17+)"
command -v mvn >/dev/null 2>&1 || missing="$missing maven"
if [ -n "$missing" ]; then
  echo "setup-tools: missing:$missing (install a JDK 17+ and Maven)" >&2
  exit 1
fi
if ! command -v kcat >/dev/null 2>&1; then
  echo "setup-tools: installing kcat from Debian" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq kcat >/dev/null
fi
kcat -V >/dev/null
