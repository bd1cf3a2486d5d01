#!/usr/bin/env bash
# Private ActiveMQ (5.x, Debian's activemq package) instance for benchmarks.
#
#   scripts/activemq.sh start  [DIR]   install if missing, start, wait for a STOMP CONNECT (idempotent)
#   scripts/activemq.sh stop   [DIR]   stop the instance (no-op when not running)
#   scripts/activemq.sh status [DIR]   exit 0 when running and answering STOMP
#   scripts/activemq.sh restart [DIR]
#
# DIR defaults to $ACTIVEMQ_DIR, then /tmp/sluice-activemq. Everything the
# broker reads and writes lives there: conf/ (the package's "main"
# instance's activemq.xml with only the transport connectors changed, and
# its logging settings as log4j.properties), data/ (KahaDB, activemq.log),
# tmp/, log/
# (the JVM's stdout and stderr) and activemq.pid (the java process). The
# Debian system service (/etc/init.d/activemq, /var/lib/activemq,
# /etc/activemq/instances-enabled) is never touched: the broker runs as a
# plain java process of the calling user. It listens on loopback only:
#
#   STOMP     127.0.0.1:$ACTIVEMQ_STOMP_PORT     (default 61643)
#   OpenWire  127.0.0.1:$ACTIVEMQ_OPENWIRE_PORT  (default 61646)
#
# and has no web console, no Jetty and no JMX (the package's activemq.xml
# imports no jetty.xml and says useJmx="false"). No authentication plugin:
# any login works (sluice-perf sends guest/guest).
#
# Persistence is the package default, KahaDB with its default journal sync
# (every persistent message is on disk before its RECEIPT).
#
# JVM: ACTIVEMQ_JAVA_OPTS (default "-Xms64m -Xmx1g
# -Dorg.apache.activemq.UseDedicatedTaskRunner=true": the heap of upstream's
# bin/env, the task-runner setting of the package's activemq-options, whose
# own heap is 512 MiB). ActiveMQ's memory limit for messages is then 70 % of
# the heap (it says so in data/activemq.log).
set -euo pipefail

cmd=${1:-}
dir=${2:-${ACTIVEMQ_DIR:-/tmp/sluice-activemq}}

STOMP_PORT=${ACTIVEMQ_STOMP_PORT:-61643}
OPENWIRE_PORT=${ACTIVEMQ_OPENWIRE_PORT:-61646}
JAVA_OPTS=${ACTIVEMQ_JAVA_OPTS:--Xms64m -Xmx1g -Dorg.apache.activemq.UseDedicatedTaskRunner=true}
START_TIMEOUT=${ACTIVEMQ_START_TIMEOUT:-120}
AMQ_HOME=/usr/share/activemq
AMQ_JAR=$AMQ_HOME/bin/activemq.jar
PKG_CONF=/etc/activemq/instances-available/main

log() { echo "activemq.sh: $*" >&2; }
die() { log "$*"; exit 1; }

usage() {
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

case "$dir" in
  /*) ;;
  *) dir="$PWD/$dir" ;;
esac

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True when something on STOMP_PORT answers a STOMP 1.2 CONNECT with
# CONNECTED.
stomp_ready() {
  local out
  out=$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\nheart-beat:0,0\n\n\0" >&3
    head -c 9 <&3
    printf "DISCONNECT\n\n\0" >&3
  ' _ "$STOMP_PORT" 2>/dev/null) || return 1
  [ "$out" = CONNECTED ]
}

# server_pid prints the pid of this DIR's java process.
server_pid() {
  local pid
  [ -s "$dir/activemq.pid" ] || return 1
  pid=$(tr -dc '0-9' <"$dir/activemq.pid")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid: it must be a java started on this DIR.
  grep -qs java "/proc/$pid/comm" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-Dactivemq.base=$dir " || return 1
  echo "$pid"
}

ensure_installed() {
  [ -f "$AMQ_JAR" ] && [ -f "$PKG_CONF/activemq.xml" ] && command -v java >/dev/null && return 0
  [ "$(id -u)" = 0 ] || die "activemq is not installed and we are not root to install it"
  log "installing activemq (Debian package)"
  # The package's init script starts only instances linked into
  # /etc/activemq/instances-enabled, and the package links none.
  export DEBIAN_FRONTEND=noninteractive
  local apt_log="${TMPDIR:-/tmp}/activemq-apt.log"
  if ! apt-get install -y activemq >"$apt_log" 2>&1; then
    apt-get update >>"$apt_log" 2>&1 || true
    apt-get install -y activemq >>"$apt_log" 2>&1 ||
      { tail -20 "$apt_log" >&2; die "apt-get install activemq failed"; }
  fi
  [ -f "$AMQ_JAR" ] || die "activemq installed but $AMQ_JAR is missing"
}

version() { dpkg-query -W -f='${Version}' activemq 2>/dev/null || echo unknown; }

write_config() {
  mkdir -p "$dir/conf" "$dir/data" "$dir/tmp" "$dir/log"
  # The package's broker logs through log4j 1.2 (slf4j-log4j12), which
  # does not read the log4j2.properties the package ships: the same
  # settings (INFO to data/activemq.log), in log4j 1.2 form.
  cat >"$dir/conf/log4j.properties" <<EOF
log4j.rootLogger=INFO, logfile
log4j.logger.org.apache.activemq.spring=WARN
log4j.logger.org.springframework=WARN
log4j.logger.org.apache.xbean=WARN
log4j.appender.logfile=org.apache.log4j.RollingFileAppender
log4j.appender.logfile.file=$dir/data/activemq.log
log4j.appender.logfile.maxFileSize=1024KB
log4j.appender.logfile.maxBackupIndex=5
log4j.appender.logfile.append=true
log4j.appender.logfile.layout=org.apache.log4j.PatternLayout
log4j.appender.logfile.layout.ConversionPattern=%d | %-5p | %m | %c | %t%n
EOF
  local from='<transportConnector name="openwire" uri="tcp://127.0.0.1:61616"/>'
  grep -qF "$from" "$PKG_CONF/activemq.xml" ||
    die "$PKG_CONF/activemq.xml has no '$from' to replace; the package's config changed"
  local to="<transportConnector name=\"openwire\" uri=\"tcp://127.0.0.1:$OPENWIRE_PORT\"/>"
  to+="\n            <transportConnector name=\"stomp\" uri=\"stomp://127.0.0.1:$STOMP_PORT\"/>"
  awk -v from="$from" -v to="$to" '
    index($0, from) { sub(/<transportConnector.*/, ""); printf "%s", $0; gsub(/\\n/, "\n", to); print to; next }
    { print }' "$PKG_CONF/activemq.xml" >"$dir/conf/activemq.xml"
}

do_status() {
  local pid
  if pid=$(server_pid) && stomp_ready; then
    echo "running: pid $pid activemq $(version) stomp 127.0.0.1:$STOMP_PORT openwire tcp://127.0.0.1:$OPENWIRE_PORT dir $dir"
    return 0
  fi
  if pid=$(server_pid); then
    echo "starting or unhealthy: pid $pid, STOMP on $STOMP_PORT not answering (log: $dir/data/activemq.log)"
    return 1
  fi
  echo "not running (dir $dir)"
  return 3
}

do_start() {
  ensure_installed
  if server_pid >/dev/null && stomp_ready; then
    do_status
    return 0
  fi
  local pid
  if pid=$(server_pid); then
    log "a broker (pid $pid) is running from $dir but STOMP is not ready; waiting"
  else
    for p in "$STOMP_PORT" "$OPENWIRE_PORT"; do
      port_open "$p" && die "port $p is already in use by another process; not starting"
    done
    write_config
    rm -f "$dir/activemq.pid"
    log "starting ActiveMQ $(version) in $dir"
    # The JVM options are those /usr/bin/activemq passes (for Java > 8),
    # with every path in DIR. setsid: the broker outlives this script and
    # the caller's process group. The inner shell writes its own pid, which
    # exec hands to java.
    # shellcheck disable=SC2086
    (cd "$dir" && exec setsid bash -c 'echo $$ >"$1/activemq.pid"; shift; exec "$@"' _ "$dir" \
      java $JAVA_OPTS \
      --add-reads=java.xml=java.logging \
      --add-opens java.base/java.security=ALL-UNNAMED \
      --add-opens java.base/java.net=ALL-UNNAMED \
      --add-opens java.base/java.lang=ALL-UNNAMED \
      --add-opens java.base/java.util=ALL-UNNAMED \
      --add-opens java.naming/javax.naming.spi=ALL-UNNAMED \
      --add-opens java.rmi/sun.rmi.transport.tcp=ALL-UNNAMED \
      --add-opens java.base/java.util.concurrent=ALL-UNNAMED \
      --add-opens java.base/java.util.concurrent.atomic=ALL-UNNAMED \
      --add-exports=java.base/sun.net.www.protocol.http=ALL-UNNAMED \
      --add-exports=java.base/sun.net.www.protocol.https=ALL-UNNAMED \
      --add-exports=java.base/sun.net.www.protocol.jar=ALL-UNNAMED \
      --add-exports=jdk.xml.dom/org.w3c.dom.html=ALL-UNNAMED \
      --add-exports=jdk.naming.rmi/com.sun.jndi.url.rmi=ALL-UNNAMED \
      -Djava.awt.headless=true \
      -Djava.io.tmpdir="$dir/tmp" \
      -Dlog4j.configuration="file:$dir/conf/log4j.properties" \
      -Dactivemq.classpath="$dir/conf" \
      -Dactivemq.home="$AMQ_HOME" \
      -Dactivemq.base="$dir" \
      -Dactivemq.conf="$dir/conf" \
      -Dactivemq.data="$dir/data" \
      -jar "$AMQ_JAR" start "xbean:file:$dir/conf/activemq.xml" \
      </dev/null >"$dir/log/stdout.log" 2>"$dir/log/stderr.log") &
    disown $! 2>/dev/null || true
  fi
  local deadline=$((SECONDS + START_TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    if server_pid >/dev/null && stomp_ready; then
      do_status
      return 0
    fi
    # (Not server_pid: for a moment the pid is the shell that execs java.)
    if [ -s "$dir/activemq.pid" ] && ! kill -0 "$(tr -dc '0-9' <"$dir/activemq.pid")" 2>/dev/null; then
      log "the broker exited during startup"
      break
    fi
    sleep 0.5
  done
  log "ActiveMQ did not accept a STOMP CONNECT on $STOMP_PORT within ${START_TIMEOUT}s"
  for f in "$dir/log/stderr.log" "$dir/log/stdout.log" "$dir/data/activemq.log"; do
    [ -s "$f" ] && { echo "--- $f (tail)" >&2; tail -25 "$f" >&2; }
  done
  return 1
}

do_stop() {
  local pid i
  if ! pid=$(server_pid); then
    rm -f "$dir/activemq.pid"
    echo "not running"
    return 0
  fi
  # TERM runs ActiveMQ's shutdown hook: connectors closed, KahaDB flushed.
  log "stopping ActiveMQ (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    log "ActiveMQ did not stop within 30 s; sending KILL to $pid"
    kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  fi
  rm -f "$dir/activemq.pid"
  echo "stopped"
}

[ -n "$cmd" ] || usage
case "$cmd" in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  restart) do_stop; do_start ;;
  *) usage ;;
esac
