#!/bin/sh
# Installs what the tests need beyond npm packages when it is missing, from Debian: a JDK (17 or newer) and Maven
# (they fetch and run Kafka; keytool makes the TLS tests' Java stores), kcat (librdkafka), the Python clients of the
# compatibility suite (confluent-kafka-python and kafka-python, for Debian's /usr/bin/python3), and promtool
# (Prometheus's rule checker, for the deploy kit's alerting rules).
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
updated=""
# apt_install [OPTION...] PACKAGE: apt's lists are refreshed once per run
apt_install() {
  [ -n "$updated" ] || $SUDO apt-get update -qq
  updated=1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}
if ! command -v java >/dev/null 2>&1 || ! command -v keytool >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
  echo "setup-tools: installing a JDK and Maven from Debian (they fetch and run Kafka)" >&2
  apt_install default-jdk-headless maven
fi
java -version >/dev/null 2>&1
mvn -v >/dev/null
if ! command -v openssl >/dev/null 2>&1; then
  echo "setup-tools: installing openssl from Debian (the TLS tests make their certificates)" >&2
  apt_install openssl
fi
if ! command -v kcat >/dev/null 2>&1; then
  echo "setup-tools: installing kcat from Debian" >&2
  apt_install kcat
fi
kcat -V >/dev/null
if ! /usr/bin/python3 -c 'import confluent_kafka, kafka' >/dev/null 2>&1; then
  echo "setup-tools: installing confluent-kafka-python and kafka-python from Debian" >&2
  apt_install python3-confluent-kafka python3-kafka
fi
/usr/bin/python3 -c 'import confluent_kafka, kafka'
if ! command -v promtool >/dev/null 2>&1; then
  echo "setup-tools: installing promtool from Debian (package prometheus)" >&2
  apt_install --no-install-recommends prometheus
  # Only promtool is wanted, but the package starts its server where services may start: under systemd, or through
  # its init script unless policy-rc.d forbids it (Docker's Debian images do). Stop it: its unit, or its pid file
  # (the init script's stop acts on /run/prometheus/prometheus.pid and succeeds when nothing runs).
  if [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1
  else
    $SUDO /etc/init.d/prometheus stop >/dev/null
  fi
fi
promtool --version >/dev/null
