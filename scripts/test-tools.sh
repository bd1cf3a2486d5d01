#!/usr/bin/env bash
# Installs the outside clients the conformance tests drive, so that
# `make test` on a fresh machine runs them instead of skipping them:
#
#   awscli, python3-boto3  Debian's AWS CLI and boto3: both predate the SDKs'
#                          switch to JSON and speak SQS's Query protocol
#   python3-pika,          the Python AMQP and STOMP clients most RabbitMQ
#   python3-stomp          users have (conformance/python_clients_test.go)
#   python3-kombu          Celery's transport, on py-amqp
#   libnet-stomp-perl,     Net::Stomp, Perl's STOMP 1.0 client, Ruby's stomp
#   ruby-stomp,            gem and Bunny (AMQP), PHP's php-amqplib and stomp
#   ruby-bunny, php-cli,   extension (conformance/client_scripts_test.go)
#   php-amqplib, php-stomp
#   librabbitmq-client-    RabbitMQ's Java client, run from source by the JDK
#   java, libslf4j-java,   with a silent SLF4J binding
#   openjdk-17-jdk-headless
#   @aws-sdk/client-sqs    the AWS SDK for JavaScript v3 (AWS JSON), pinned by
#                          conformance/testdata/sqs-js/package-lock.json and
#                          installed there with npm ci (the machine's Node.js)
#   amqplib                the Node.js AMQP client, pinned by
#                          conformance/testdata/amqplib/package-lock.json
#   @stomp/stompjs, ws     stomp.js, the STOMP client of web pages, and a
#                          WebSocket for it under Node.js 20, pinned by
#                          conformance/testdata/stompjs/package-lock.json
#   rabbitmqadmin          the Python management CLI that Debian ships in its
#                          rabbitmq-server package; taken out of the package
#                          (apt-get download + dpkg-deb -x) so that Erlang and
#                          a RabbitMQ node are not installed for one script
#
# Idempotent and quick when everything is there. Tools land in
# .cache/tools/bin (rabbitmqadmin) or the system (apt packages); the
# Makefile puts .cache/tools/bin first on PATH for the tests and sets
# SLUICE_REQUIRE_TOOLS=1, which turns a test's "tool missing" skip into a
# failure. Needs root (or sudo) for apt-get when a package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$PWD/.cache/tools
mkdir -p "$tools/bin"

apt() {
  if [ "$(id -u)" -eq 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi
}

# want_packages installs the Debian packages that are not installed yet.
want_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "test-tools: installing ${missing[*]}" >&2
  local log
  log=$(mktemp)
  if ! DEBIAN_FRONTEND=noninteractive apt install -y --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt update >>"$log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1 ||
      { tail -20 "$log" >&2; echo "test-tools: apt-get install ${missing[*]} failed" >&2; exit 1; }
  fi
  rm -f "$log"
}

want_packages awscli python3-boto3 python3-pika python3-kombu python3-stomp libnet-stomp-perl ruby-stomp ruby-bunny php-cli php-amqplib php-stomp \
  librabbitmq-client-java libslf4j-java openjdk-17-jdk-headless

# rabbitmqadmin from Debian's rabbitmq-server package, unpacked, not installed.
if [ ! -x "$tools/bin/rabbitmqadmin" ]; then
  if [ -x /usr/bin/rabbitmqadmin ]; then
    cp /usr/bin/rabbitmqadmin "$tools/bin/rabbitmqadmin"
  else
    echo "test-tools: fetching rabbitmqadmin from Debian's rabbitmq-server package" >&2
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && apt-get download rabbitmq-server >/dev/null 2>&1) || {
      apt update >/dev/null 2>&1 || true
      (cd "$work" && apt-get download rabbitmq-server >/dev/null)
    }
    dpkg-deb -x "$work"/rabbitmq-server_*.deb "$work/x"
    cp "$work/x/usr/bin/rabbitmqadmin" "$tools/bin/rabbitmqadmin"
  fi
  chmod +x "$tools/bin/rabbitmqadmin"
fi

# The Node.js clients, at the versions their lock files pin.
for js in conformance/testdata/sqs-js conformance/testdata/amqplib conformance/testdata/stompjs; do
  if [ ! -d "$js/node_modules" ] || [ "$js/package-lock.json" -nt "$js/node_modules/.package-lock.json" ]; then
    echo "test-tools: npm ci in $js" >&2
    (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
