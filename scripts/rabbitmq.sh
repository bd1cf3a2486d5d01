#!/usr/bin/env bash
# Private RabbitMQ instance for differential tests and benchmarks.
#
#   scripts/rabbitmq.sh start  [DIR]   install if missing, start, wait for AMQP (idempotent)
#   scripts/rabbitmq.sh stop   [DIR]   stop the instance (no-op when not running)
#   scripts/rabbitmq.sh status [DIR]   exit 0 when running and accepting AMQP
#   scripts/rabbitmq.sh env    [DIR]   print exports for rabbitmqctl by hand: eval "$(scripts/rabbitmq.sh env)"
#   scripts/rabbitmq.sh certs  OUTDIR  make a test CA, server and client certificates (openssl)
#
# DIR defaults to $RABBITMQ_DIR, then /tmp/sluice-rabbitmq. Everything the
# node writes (mnesia, logs, config, enabled plugins, Erlang cookie) lives
# there. The node never touches the Debian system service: it has its own
# node name, Erlang distribution port and epmd port, and listens on loopback
# only:
#
#   AMQP   127.0.0.1:$RABBITMQ_AMQP_PORT   (default 5682)
#   STOMP  127.0.0.1:$RABBITMQ_STOMP_PORT  (default 61623, rabbitmq_stomp)
#   management only with RABBITMQ_MANAGEMENT=1, on $RABBITMQ_MGMT_PORT (default 15682),
#   and with it Web STOMP (rabbitmq_web_stomp) on ws://127.0.0.1:$RABBITMQ_WEB_STOMP_PORT/ws
#   (default 15684)
#   AMQPS  127.0.0.1:$RABBITMQ_AMQPS_PORT  (default 5681)  } only with RABBITMQ_TLS=1
#   STOMPS 127.0.0.1:$RABBITMQ_STOMPS_PORT (default 61624) }
#
# TLS (RABBITMQ_TLS=1): the node presents $RABBITMQ_TLS_CERT / _KEY and
# trusts $RABBITMQ_TLS_CA for client certificates; without them, `start`
# makes a CA and a server certificate for localhost and 127.0.0.1 in
# DIR/tls with `certs` (once; kept across restarts). Client certificates
# are verified when presented (verify_peer) and not required
# (RABBITMQ_TLS_REQUIRE_CLIENT_CERT=1 requires them); TLS 1.2 and 1.3, the
# node's default ciphers. `certs OUTDIR` writes ca.pem, server.pem,
# server-key.pem, client.pem and client-key.pem (CN guest) with keys of
# type $TLS_KEY_TYPE: rsa (2048 bits, the default, as RabbitMQ's tls-gen)
# or ec (P-256); valid 30 days; OUTDIR is kept if it already has them.
#
# loopback_users is left at its default, so guest/guest works from 127.0.0.1.
# URL: amqp://guest:guest@127.0.0.1:5682/
set -euo pipefail

cmd=${1:-}
dir=${2:-${RABBITMQ_DIR:-/tmp/sluice-rabbitmq}}

AMQP_PORT=${RABBITMQ_AMQP_PORT:-5682}
STOMP_PORT=${RABBITMQ_STOMP_PORT:-61623}
MGMT_PORT=${RABBITMQ_MGMT_PORT:-15682}
WEB_STOMP_PORT=${RABBITMQ_WEB_STOMP_PORT:-15684}
MANAGEMENT=${RABBITMQ_MANAGEMENT:-0}
TLS=${RABBITMQ_TLS:-0}
AMQPS_PORT=${RABBITMQ_AMQPS_PORT:-5681}
STOMPS_PORT=${RABBITMQ_STOMPS_PORT:-61624}
DIST_PORT=${RABBITMQ_PRIVATE_DIST_PORT:-25682}
EPMD_PORT=${RABBITMQ_PRIVATE_EPMD_PORT:-4380}
NODENAME=${RABBITMQ_PRIVATE_NODENAME:-sluice-rmq@localhost}
START_TIMEOUT=${RABBITMQ_START_TIMEOUT:-120}
RMQ_BIN=/usr/lib/rabbitmq/bin

log() { echo "rabbitmq.sh: $*" >&2; }
die() { log "$*"; exit 1; }

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

case "$dir" in
  /*) ;;
  *) dir="$PWD/$dir" ;;
esac

# Environment for the server and for rabbitmqctl. HOME holds the private
# Erlang cookie, so the CLI reaches only this node.
setup_env() {
  export HOME="$dir"
  export RABBITMQ_NODENAME="$NODENAME"
  export RABBITMQ_USE_LONGNAME=false
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$AMQP_PORT"
  export RABBITMQ_DIST_PORT="$DIST_PORT"
  export ERL_EPMD_PORT="$EPMD_PORT"
  export ERL_EPMD_ADDRESS=127.0.0.1
  # CLI tools pick their own distribution ports from this range.
  export RABBITMQ_CTL_DIST_PORT_MIN=$((DIST_PORT + 10000))
  export RABBITMQ_CTL_DIST_PORT_MAX=$((DIST_PORT + 10010))
  export RABBITMQ_MNESIA_BASE="$dir/mnesia"
  export RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
  export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
  export RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
  export RABBITMQ_LOGS="$dir/log/rabbit.log"
  # Keep the node light on a 2-core machine.
  # Distribution on loopback only.
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:-+S 2:2 +A 8} -kernel inet_dist_use_interface {127,0,0,1}"
  unset RABBITMQ_ENABLED_PLUGINS RABBITMQ_PLUGINS_DIR CONF_ENV_FILE
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True when something on AMQP_PORT answers an AMQP protocol header with
# connection.start (frame type 1, channel 0, class 10 method 10).
amqp_ready() {
  local out
  out=$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "AMQP\x00\x00\x09\x01" >&3
    head -c 11 <&3 | od -An -tx1 | tr -d " \n"
  ' _ "$AMQP_PORT" 2>/dev/null) || return 1
  [[ $out == 01000000* && ${out:14:8} == 000a000a ]]
}

server_pid() {
  local pid
  [ -s "$dir/rabbitmq.pid" ] || return 1
  pid=$(tr -dc '0-9' <"$dir/rabbitmq.pid")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid from a node that died without cleanup.
  grep -qs beam "/proc/$pid/comm" || return 1
  echo "$pid"
}

ensure_installed() {
  [ -x "$RMQ_BIN/rabbitmq-server" ] && return 0
  [ "$(id -u)" = 0 ] || die "rabbitmq-server is not installed and we are not root to install it"
  log "installing rabbitmq-server (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y rabbitmq-server >"${TMPDIR:-/tmp}/rabbitmq-apt.log" 2>&1; then
    apt-get update >>"${TMPDIR:-/tmp}/rabbitmq-apt.log" 2>&1 || true
    apt-get install -y rabbitmq-server >>"${TMPDIR:-/tmp}/rabbitmq-apt.log" 2>&1 ||
      { tail -20 "${TMPDIR:-/tmp}/rabbitmq-apt.log" >&2; die "apt-get install rabbitmq-server failed"; }
  fi
  [ -x "$RMQ_BIN/rabbitmq-server" ] || die "rabbitmq-server installed but $RMQ_BIN/rabbitmq-server missing"
}

# gen_certs OUTDIR: a CA, a server certificate for localhost and 127.0.0.1
# and a client certificate for guest, signed by the CA, as PEM files.
gen_certs() {
  local out=$1 kind=${TLS_KEY_TYPE:-rsa} newkey
  case $kind in
    rsa) newkey=(-newkey rsa:2048) ;;
    ec) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
    *) die "TLS_KEY_TYPE must be rsa or ec, not $kind" ;;
  esac
  command -v openssl >/dev/null || die "openssl is needed to make certificates"
  if [ -s "$out/ca.pem" ] && [ -s "$out/server.pem" ] && [ -s "$out/server-key.pem" ] && [ -s "$out/client.pem" ]; then
    return 0
  fi
  mkdir -p "$out"
  (
    set -e
    cd "$out"
    umask 077
    openssl req -x509 "${newkey[@]}" -nodes -days 30 -keyout ca-key.pem -out ca.pem -subj "/CN=sluice test CA/O=sluice" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    openssl req "${newkey[@]}" -nodes -keyout server-key.pem -out server.csr -subj "/CN=localhost/O=sluice"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 -extfile server.ext -out server.pem
    openssl req "${newkey[@]}" -nodes -keyout client-key.pem -out client.csr -subj "/CN=guest/O=sluice clients"
    printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 -extfile client.ext -out client.pem
    rm -f server.csr client.csr server.ext client.ext
    chmod 644 ca.pem server.pem client.pem
  ) >"$out/openssl.log" 2>&1 || { cat "$out/openssl.log" >&2; die "openssl failed making certificates in $out"; }
  log "certificates ($kind) in $out: ca.pem server.pem server-key.pem client.pem client-key.pem"
}

# tls_files sets TLS_CA, TLS_CERT, TLS_KEY: the given files, or a CA and
# server certificate made in DIR/tls.
tls_files() {
  TLS_CA=${RABBITMQ_TLS_CA:-} TLS_CERT=${RABBITMQ_TLS_CERT:-} TLS_KEY=${RABBITMQ_TLS_KEY:-}
  if [ -z "$TLS_CERT" ]; then
    gen_certs "$dir/tls"
    TLS_CA=$dir/tls/ca.pem TLS_CERT=$dir/tls/server.pem TLS_KEY=$dir/tls/server-key.pem
  fi
  [ -n "$TLS_KEY" ] && [ -n "$TLS_CA" ] || die "RABBITMQ_TLS_CERT needs RABBITMQ_TLS_KEY and RABBITMQ_TLS_CA"
  local f
  for f in "$TLS_CA" "$TLS_CERT" "$TLS_KEY"; do
    [ -r "$f" ] || die "TLS file $f is not readable"
  done
}

write_config() {
  mkdir -p "$dir/mnesia" "$dir/log"
  chmod 700 "$dir"
  if [ ! -s "$dir/.erlang.cookie" ]; then
    (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/.erlang.cookie")
  fi
  chmod 400 "$dir/.erlang.cookie"
  local plugins="rabbitmq_stomp"
  [ "$MANAGEMENT" = 1 ] && plugins="rabbitmq_management,rabbitmq_web_stomp,$plugins"
  echo "[$plugins]." >"$dir/enabled_plugins"
  : >"$dir/rabbitmq-env.conf"
  echo "[]." >"$dir/advanced.config"
  {
    echo "listeners.tcp.default = 127.0.0.1:$AMQP_PORT"
    echo "stomp.listeners.tcp.1 = 127.0.0.1:$STOMP_PORT"
    if [ "$TLS" = 1 ]; then
      echo "listeners.ssl.default = 127.0.0.1:$AMQPS_PORT"
      echo "stomp.listeners.ssl.1 = 127.0.0.1:$STOMPS_PORT"
      echo "ssl_options.cacertfile = $TLS_CA"
      echo "ssl_options.certfile = $TLS_CERT"
      echo "ssl_options.keyfile = $TLS_KEY"
      echo "ssl_options.verify = verify_peer"
      if [ "${RABBITMQ_TLS_REQUIRE_CLIENT_CERT:-0}" = 1 ]; then
        echo "ssl_options.fail_if_no_peer_cert = true"
      else
        echo "ssl_options.fail_if_no_peer_cert = false"
      fi
      echo "ssl_options.versions.1 = tlsv1.3"
      echo "ssl_options.versions.2 = tlsv1.2"
    fi
    if [ "$MANAGEMENT" = 1 ]; then
      echo "management.tcp.port = $MGMT_PORT"
      echo "management.tcp.ip = 127.0.0.1"
      echo "web_stomp.tcp.port = $WEB_STOMP_PORT"
      echo "web_stomp.tcp.ip = 127.0.0.1"
    fi
    echo "log.file = rabbit.log"
    echo "log.file.level = info"
    echo "log.console = false"
    # Do not refuse publishes on a busy test machine.
    echo "disk_free_limit.absolute = 50MB"
    echo "vm_memory_high_watermark.relative = 0.6"
  } >"$dir/rabbitmq.conf"
}

do_status() {
  local pid
  if pid=$(server_pid) && amqp_ready; then
    local tls=
    [ "$TLS" = 1 ] && tls=" amqps://guest:guest@127.0.0.1:$AMQPS_PORT/ stomps 127.0.0.1:$STOMPS_PORT"
    echo "running: pid $pid node $NODENAME amqp://guest:guest@127.0.0.1:$AMQP_PORT/ stomp 127.0.0.1:$STOMP_PORT$tls dir $dir"
    return 0
  fi
  if pid=$(server_pid); then
    echo "starting or unhealthy: pid $pid, AMQP on $AMQP_PORT not answering (log: $dir/log)"
    return 1
  fi
  echo "not running (dir $dir)"
  return 3
}

do_start() {
  ensure_installed
  if server_pid >/dev/null && amqp_ready; then
    do_status
    return 0
  fi
  if pid=$(server_pid); then
    log "a node (pid $pid) is running from $dir but AMQP is not ready; waiting"
  else
    local ports=("$AMQP_PORT" "$STOMP_PORT" "$DIST_PORT")
    [ "$TLS" = 1 ] && ports+=("$AMQPS_PORT" "$STOMPS_PORT")
    for p in "${ports[@]}"; do
      port_open "$p" && die "port $p is already in use by another process; not starting"
    done
    [ "$TLS" = 1 ] && tls_files
    if [ "$MANAGEMENT" = 1 ]; then
      for p in "$MGMT_PORT" "$WEB_STOMP_PORT"; do
        port_open "$p" && die "port $p is already in use; not starting"
      done
    fi
    write_config
    rm -f "$dir/rabbitmq.pid"
    log "starting node $NODENAME in $dir"
    # setsid: the node outlives this script and the caller's process group.
    (cd "$dir" && exec setsid "$RMQ_BIN/rabbitmq-server" </dev/null >"$dir/log/startup_log" 2>"$dir/log/startup_err") &
    echo $! >"$dir/launcher.pid"
  fi
  local deadline=$((SECONDS + START_TIMEOUT)) launcher
  launcher=$(cat "$dir/launcher.pid" 2>/dev/null || true)
  while [ $SECONDS -lt $deadline ]; do
    if server_pid >/dev/null && amqp_ready; then
      # AMQP answers only after boot; make sure plugins (STOMP) are up too.
      timeout 30 "$RMQ_BIN/rabbitmqctl" -q await_startup >/dev/null 2>&1 || true
      if [ "$TLS" = 1 ] && ! port_open "$AMQPS_PORT"; then
        log "RabbitMQ is up but its TLS listener on $AMQPS_PORT is not (see $dir/log/rabbit.log)"
        return 1
      fi
      do_status
      return 0
    fi
    if ! server_pid >/dev/null && { [ -z "$launcher" ] || ! kill -0 "$launcher" 2>/dev/null; }; then
      log "the node exited during startup"
      break
    fi
    sleep 0.5
  done
  log "RabbitMQ did not accept AMQP connections on $AMQP_PORT within ${START_TIMEOUT}s"
  for f in "$dir/log/startup_err" "$dir/log/startup_log" "$dir/log/rabbit.log"; do
    [ -s "$f" ] && { echo "--- $f (tail)" >&2; tail -25 "$f" >&2; }
  done
  return 1
}

do_stop() {
  local pid
  if ! pid=$(server_pid); then
    echo "not running"
    epmd -port "$EPMD_PORT" -kill >/dev/null 2>&1 || true
    return 0
  fi
  log "stopping node $NODENAME (pid $pid)"
  timeout 60 "$RMQ_BIN/rabbitmqctl" -q stop "$dir/rabbitmq.pid" >/dev/null 2>&1 || true
  local i
  for i in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    log "node did not stop; sending TERM to $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/rabbitmq.pid" "$dir/launcher.pid"
  # Our private epmd (the system one, if any, is on another port).
  epmd -port "$EPMD_PORT" -kill >/dev/null 2>&1 || true
  echo "stopped"
}

[ -n "$cmd" ] || usage
setup_env
case "$cmd" in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  restart) do_stop; do_start ;;
  certs)
    [ -n "${2:-}" ] || usage
    gen_certs "$dir"
    ;;
  env)
    # eval "$(scripts/rabbitmq.sh env)" then use /usr/lib/rabbitmq/bin/rabbitmqctl
    for v in $(compgen -e | grep -E '^(RABBITMQ_|ERL_EPMD_|HOME$)' | sort); do
      printf 'export %s=%q\n' "$v" "${!v}"
    done
    ;;
  *) usage ;;
esac
