#!/usr/bin/env bash
# Runs the integration test suite that ships inside the
# github.com/rabbitmq/amqp091-go module against a freshly built sluice.
# The suite's recovery tests drop connections through the management API on
# localhost:15672, so sluice's HTTP listener must get that port.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

if (exec 3<>/dev/tcp/127.0.0.1/15672) 2>/dev/null; then
  echo "amqp091-suite: port 15672 is in use; the suite's recovery tests need it for sluice's HTTP API" >&2
  exit 1
fi

go build -o "$tmp/sluice" ./cmd/sluice
amqp_port=${AMQP091_SUITE_PORT:-5673}
"$tmp/sluice" --data-dir "$tmp/data" --amqp-addr "127.0.0.1:$amqp_port" --stomp-addr "" --sqs-addr "" --web-stomp-addr "" --prometheus-addr "" \
  --http-addr "127.0.0.1:15672" --log-format json --log-level warn 2>"$tmp/sluice.log" &
pid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$amqp_port") 2>/dev/null && break
  sleep 0.1
done

skip=$(grep -v '^#' conformance/amqp091-skips.txt | awk 'NF {print $1}' | paste -sd'|')
status=0
AMQP_URL="amqp://guest:guest@127.0.0.1:$amqp_port/" \
  go test -tags integration -count=1 -timeout 600s ${skip:+-skip "^($skip)\$"} github.com/rabbitmq/amqp091-go || status=$?
if [ $status -ne 0 ]; then
  echo "--- sluice log (last 50 lines) ---" >&2
  tail -50 "$tmp/sluice.log" >&2
fi
exit $status
