#!/usr/bin/env bash
# The docker-compose topology as local processes on loopback, for trying the cluster without Docker:
#
#   PostgreSQL 15 primary + streaming replica, Redis       (scripts/test-servers.sh, in the state dir)
#   2 simulated Casper nodes (same seed: the same chain)   chainfeed simulate-node
#   migrate once, then the read-only role                  chainfeed migrate; deploy/readonly-role.sql
#   writer + hot-standby writer, both following both nodes chainfeed ingest ×2 (advisory lock)
#   3 web replicas (read-only role, replica first)         chainfeed serve ×3
#   nginx load balancer (deploy/nginx.conf)                nginx, own config/pid/logs in the state dir
#
#   bash deploy/local-cluster.sh up       # start (builds the release binary if missing); prints the LB URL first
#   bash deploy/local-cluster.sh status   # what runs, on which port, and whether it answers
#   bash deploy/local-cluster.sh down     # stop everything and remove the state directory
#
# Environment: CHAINFEED_CLUSTER_DIR (state, default /tmp/chainfeed-local-cluster), CHAINFEED_BIN (binary,
# default .build/release/chainfeed of this checkout), CHAINFEED_CLUSTER_WEB (web replicas, default 3),
# CHAINFEED_BLOCK_INTERVAL_MS (default 1000), CHAINFEED_DEPLOYS_PER_BLOCK (default 3), CHAINFEED_SEED (default 7).
# Every process listens on a free 127.0.0.1 port. Runs as root (PostgreSQL as the postgres user) or as a user
# with PostgreSQL 15, Redis and nginx installed. Never reads stdin.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${CHAINFEED_CLUSTER_DIR:-/tmp/chainfeed-local-cluster}
DIR=${DIR%/}
case "$DIR" in /*) ;; *) DIR=$PWD/$DIR ;; esac
case "$DIR" in
  "" | / | /tmp | /root | /home | /usr* | /etc* | /var | /bin* | /lib*) echo "local-cluster: refusing state directory '$DIR'" >&2; exit 1 ;;
esac
WEB_COUNT=${CHAINFEED_CLUSTER_WEB:-3}
INTERVAL=${CHAINFEED_BLOCK_INTERVAL_MS:-1000}
DEPLOYS=${CHAINFEED_DEPLOYS_PER_BLOCK:-3}
SEED=${CHAINFEED_SEED:-7}
SERVERS=$DIR/servers

log() { echo "local-cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

wait_http() { # wait_http URL SECONDS WHAT [PIDNAME]
  local url=$1 secs=$2 what=$3 name=${4:-} i
  for ((i = 0; i < secs * 5; i++)); do
    http_ok "$url" && return 0
    if [ -n "$name" ] && ! alive "$name"; then
      die "$what exited (see $DIR/logs/$name.log: $(tail -1 "$DIR/logs/$name.log" 2>/dev/null))"
    fi
    sleep 0.2
  done
  die "$what did not answer $url within ${secs}s (see $DIR/logs/)"
}

pid_of() { cat "$DIR/pids/$1.pid" 2>/dev/null || true; }
alive() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# In a subshell that is about to start long-lived processes: closes every descriptor it inherited but 0-2, so
# that no server holds the caller's pipes or sockets open (a test runner, or CI piping this script's output,
# would wait for their end as long as the cluster runs).
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}

# spawn NAME PORT CMD... : runs CMD in its own session, output to logs/NAME.log, pid to pids/NAME.pid.
spawn() {
  local name=$1 port=$2; shift 2
  (close_inherited_fds; exec setsid "$@" </dev/null >"$DIR/logs/$name.log" 2>&1) &
  echo $! >"$DIR/pids/$name.pid"
  echo "$port" >"$DIR/ports/$name"
}

find_bin() {
  if [ -n "${CHAINFEED_BIN:-}" ]; then
    [ -x "$CHAINFEED_BIN" ] || die "CHAINFEED_BIN=$CHAINFEED_BIN is not executable"
    echo "$CHAINFEED_BIN"
    return
  fi
  local bin=$ROOT/.build/release/chainfeed
  if [ ! -x "$bin" ]; then
    command -v swift >/dev/null || die "no $bin and no swift on PATH to build it"
    log "building the release binary (swift build -c release --product chainfeed)"
    (cd "$ROOT" && bash scripts/install-deps.sh >&2 && swift build -c release --product chainfeed >&2) || die "release build failed"
    bin="$(cd "$ROOT" && swift build -c release --show-bin-path)/chainfeed"
  fi
  echo "$bin"
}

ensure_nginx() {
  command -v nginx >/dev/null && return
  [ -x /usr/sbin/nginx ] && return
  is_root || die "nginx missing and not root: apt-get install nginx first"
  log "apt-get install nginx-light"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq nginx-light </dev/null || { apt-get update -qq </dev/null && apt-get install -y -qq nginx-light </dev/null; } \
    || apt-get install -y -qq nginx </dev/null; } >"$DIR/logs/apt-nginx.log" 2>&1 || die "could not install nginx (see $DIR/logs/apt-nginx.log)"
}

nginx_bin() { command -v nginx 2>/dev/null || echo /usr/sbin/nginx; }

cmd_up() {
  if [ -f "$DIR/lb-url" ] && alive lb && http_ok "$(cat "$DIR/lb-url")/health"; then
    cat "$DIR/lb-url"
    log "already up (state in $DIR); 'status' shows the rest"
    return
  fi
  [ -d "$DIR" ] && { log "removing a stale cluster in $DIR"; cmd_down; }
  local started=$SECONDS bin
  mkdir -p "$DIR/pids" "$DIR/ports" "$DIR/logs" "$DIR/nginx"
  chmod 755 "$DIR"
  # Anything that fails from here on leaves nothing running behind.
  trap 'rc=$?; if [ $rc != 0 ]; then log "up failed; stopping what started"; cmd_down >/dev/null 2>&1 || true; fi' EXIT
  bin=$(find_bin)
  echo "$bin" >"$DIR/bin"
  command -v curl >/dev/null || die "curl is needed"

  # Datastores: PostgreSQL primary + streaming replica and Redis, on free ports.
  log "starting PostgreSQL primary + replica and Redis"
  (close_inherited_fds; CHAINFEED_TEST_SERVERS_DIR=$SERVERS exec bash "$ROOT/scripts/test-servers.sh" start) </dev/null >"$DIR/logs/servers.log" 2>&1 \
    || die "datastores did not start (see $DIR/logs/servers.log: $(tail -1 "$DIR/logs/servers.log"))"
  # shellcheck disable=SC1091
  . "$SERVERS/env"
  local primary=$CHAINFEED_TEST_DATABASE_URL replica=$CHAINFEED_TEST_REPLICA_URL redis=$CHAINFEED_TEST_REDIS_URL
  local pg_hostport=${primary#postgresql://postgres@}; pg_hostport=${pg_hostport%/chainfeed}
  local rp_hostport=${replica#postgresql://postgres@}; rp_hostport=${rp_hostport%/chainfeed}

  # Two simulated nodes on the same seed: the same chain, seen twice (the writer stores it once).
  local nodes=() i port
  for i in 1 2; do
    port=$(free_port)
    spawn "node-$i" "$port" "$bin" simulate-node --host 127.0.0.1 --port "$port" \
      --block-interval-ms "$INTERVAL" --deploys-per-block "$DEPLOYS" --seed "$SEED"
    nodes+=("http://127.0.0.1:$port")
  done

  # Schema, then the read-only role the web replicas use (DESIGN.md invariant 8).
  log "migrating"
  "$bin" migrate --database-url "$primary" >"$DIR/logs/migrate.log" 2>&1 </dev/null || die "migrate failed (see $DIR/logs/migrate.log)"
  if command -v psql >/dev/null; then
    psql "$primary" -X -q -v ON_ERROR_STOP=1 -v schema=public -f "$ROOT/deploy/readonly-role.sql" >"$DIR/logs/readonly-role.log" 2>&1 </dev/null \
      || die "deploy/readonly-role.sql failed (see $DIR/logs/readonly-role.log)"
    echo chainfeed_reader >"$DIR/read-role"
  else
    echo postgres >"$DIR/read-role"
  fi
  local role; role=$(cat "$DIR/read-role")

  for i in 1 2; do
    wait_http "${nodes[$((i - 1))]}/status" 30 "node-$i" "node-$i"
  done

  # Writer and hot standby: the same nodes, the same primary; the advisory lock picks one.
  local node_args=()
  for i in "${nodes[@]}"; do node_args+=(--node "$i"); done
  for i in 1 2; do
    port=$(free_port)
    spawn "writer-$i" "$port" "$bin" ingest "${node_args[@]}" --database-url "$primary" --redis-url "$redis" \
      --host 127.0.0.1 --port "$port"
    [ "$i" = 1 ] && sleep 1  # writer-1 takes the lock first, writer-2 waits as the standby
  done

  # Web replicas: the streaming replica first (zone a), the primary as the fallback (zone b), both read-only.
  local upstreams="" web_urls=()
  for ((i = 1; i <= WEB_COUNT; i++)); do
    port=$(free_port)
    spawn "web-$i" "$port" "$bin" serve \
      --read-database-url "postgresql://$role@$rp_hostport/chainfeed zone=a" \
      --read-database-url "postgresql://$role@$pg_hostport/chainfeed zone=b" \
      --replica-strategy prefer-zone-single --zone a \
      --redis-url "$redis" --host 127.0.0.1 --port "$port"
    upstreams+="server 127.0.0.1:$port max_fails=2 fail_timeout=5s; "
    web_urls+=("http://127.0.0.1:$port")
  done
  for i in 1 2; do wait_http "http://127.0.0.1:$(cat "$DIR/ports/writer-$i")/health" 60 "writer-$i" "writer-$i"; done
  for ((i = 1; i <= WEB_COUNT; i++)); do wait_http "${web_urls[$((i - 1))]}/health" 60 "web-$i" "web-$i"; done

  # The load balancer: our own nginx (own config, pid and logs in the state dir), in the foreground of its pid.
  ensure_nginx
  local lb_port; lb_port=$(free_port)
  sed -e "s|@PREFIX@|$DIR/nginx|g" -e "s|@ERROR_LOG@|$DIR/logs/lb-error.log|g" \
    -e "s|@ACCESS_LOG@|$DIR/logs/lb-access.log|g" -e "s|@LISTEN@|127.0.0.1:$lb_port|g" \
    -e "s|@UPSTREAMS@|$upstreams|g" "$ROOT/deploy/nginx.conf" >"$DIR/nginx/nginx.conf"
  # nginx's workers (user nobody when started as root) need to reach the temp dirs.
  chmod 755 "$DIR/nginx" "$DIR/logs"
  "$(nginx_bin)" -t -q -p "$DIR/nginx" -e "$DIR/logs/lb-error.log" -c "$DIR/nginx/nginx.conf" >"$DIR/logs/lb.log" 2>&1 \
    || die "nginx config test failed (see $DIR/logs/lb.log: $(tail -1 "$DIR/logs/lb.log"))"
  spawn lb "$lb_port" "$(nginx_bin)" -p "$DIR/nginx" -e "$DIR/logs/lb-error.log" -c "$DIR/nginx/nginx.conf" -g "daemon off;"
  local lb="http://127.0.0.1:$lb_port"
  wait_http "$lb/health" 30 "the load balancer" lb
  echo "$lb" >"$DIR/lb-url"

  # The LB URL first on stdout (scripts take the first http://127.0.0.1 URL), then the rest.
  echo "$lb"
  trap - EXIT
  {
    echo "chainfeed local cluster up in $((SECONDS - started))s (state in $DIR)"
    echo "  load balancer:  $lb   (try: curl '$lb/blocks?limit=2'; websocket $lb/ws?topics=blocks)"
    echo "  web replicas:   ${web_urls[*]}"
    echo "  writers:        http://127.0.0.1:$(cat "$DIR/ports/writer-1") (first), http://127.0.0.1:$(cat "$DIR/ports/writer-2") (standby)"
    echo "  nodes:          ${nodes[*]}"
    echo "  primary:        $primary"
    echo "  replica:        $replica (web replicas connect as $role)"
    echo "  redis:          $redis"
    echo "  stop with:      bash deploy/local-cluster.sh down"
  }
}

stop_pid() { # stop_pid NAME: TERM, up to 12 s, then KILL
  local p i
  p=$(pid_of "$1")
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || { rm -f "$DIR/pids/$1.pid"; return 0; }
  for ((i = 0; i < 60; i++)); do
    kill -0 "$p" 2>/dev/null || { rm -f "$DIR/pids/$1.pid"; return 0; }
    sleep 0.2
  done
  log "$1 ($p) did not stop in 12s; killing it"
  kill -KILL "$p" 2>/dev/null || true
  rm -f "$DIR/pids/$1.pid"
}

cmd_down() {
  [ -d "$DIR" ] || { log "nothing to stop ($DIR does not exist)"; return 0; }
  local f name groups
  # Front to back: the load balancer, the web replicas, the writers, the nodes; each group in parallel.
  for groups in "lb" "web-" "writer-" "node-"; do
    for f in "$DIR"/pids/"$groups"*.pid; do
      [ -e "$f" ] || continue
      name=$(basename "$f" .pid)
      stop_pid "$name" &
    done
    wait
  done
  if [ -d "$SERVERS" ]; then
    CHAINFEED_TEST_SERVERS_DIR=$SERVERS bash "$ROOT/scripts/test-servers.sh" stop >/dev/null 2>&1 || log "test-servers.sh stop failed"
  fi
  rm -rf "$DIR"
  log "down"
}

cmd_status() {
  [ -d "$DIR" ] || { echo "not running ($DIR does not exist)"; return 3; }
  local f name pid port state health bad=0
  [ -f "$DIR/lb-url" ] && echo "load balancer: $(cat "$DIR/lb-url")"
  printf '%-10s %-8s %-6s %-8s %s\n' NAME PID PORT PROCESS HEALTH
  for f in "$DIR"/pids/*.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid); pid=$(cat "$f"); port=$(cat "$DIR/ports/$name" 2>/dev/null || echo -)
    if kill -0 "$pid" 2>/dev/null; then state=running; else state=exited; bad=1; fi
    case "$name" in
      node-*) health=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/status" || true) ;;
      *) health=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/health" || true) ;;
    esac
    [ "$health" = 200 ] || bad=1
    printf '%-10s %-8s %-6s %-8s %s\n' "$name" "$pid" "$port" "$state" "$health"
  done
  if [ -f "$SERVERS/env" ]; then
    # shellcheck disable=SC1091
    . "$SERVERS/env"
    local ready
    for name in primary replica; do
      f=$CHAINFEED_TEST_DATABASE_URL; [ $name = replica ] && f=$CHAINFEED_TEST_REPLICA_URL
      if psql "$f" -X -qtAc 'select 1' >/dev/null 2>&1; then ready=up; else ready=down; bad=1; fi
      port=${f##*:}; printf '%-10s %-8s %-6s %-8s %s\n' "pg-$name" - "${port%%/*}" "$ready" "${f}"
    done
    if [ "$(redis-cli -u "$CHAINFEED_TEST_REDIS_URL" ping 2>/dev/null)" = PONG ]; then ready=up; else ready=down; bad=1; fi
    printf '%-10s %-8s %-6s %-8s %s\n' redis - "${CHAINFEED_TEST_REDIS_URL##*:}" "$ready" "$CHAINFEED_TEST_REDIS_URL"
  fi
  if [ -f "$DIR/lb-url" ]; then
    curl -s --max-time 3 "$(cat "$DIR/lb-url")/status" 2>/dev/null | head -c 600; echo
  fi
  return $bad
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
