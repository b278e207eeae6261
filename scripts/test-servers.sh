#!/usr/bin/env bash
# Throwaway servers for the tests: a PostgreSQL 15 primary, its streaming replica and a Redis server,
# each on a free loopback port, all state in one directory.
#
#   bash scripts/test-servers.sh start   # install what is missing, start (idempotent), print the env
#   bash scripts/test-servers.sh env     # print the `export …` lines: source <(bash scripts/test-servers.sh env)
#   bash scripts/test-servers.sh stop    # stop everything and remove the state directory
#
# CHAINFEED_TEST_SERVERS_DIR overrides the state directory (default /tmp/chainfeed-test-servers).
# Runs as root (PostgreSQL then runs as the `postgres` user) or as an ordinary user with the
# PostgreSQL 15 and Redis binaries already installed. Never reads stdin.
set -euo pipefail

DIR=${CHAINFEED_TEST_SERVERS_DIR:-/tmp/chainfeed-test-servers}
DIR=${DIR%/}
case "$DIR" in /*) ;; *) DIR=$PWD/$DIR ;; esac
PG_BIN=${CHAINFEED_TEST_PG_BIN:-/usr/lib/postgresql/15/bin}
ENV_FILE=$DIR/env

log() { echo "test-servers: $*" >&2; }
die() { log "error: $*"; exit 1; }

case "$DIR" in
  "" | / | /tmp | /root | /home | /usr* | /etc* | /var | /bin* | /lib*) die "refusing state directory '$DIR'" ;;
esac

is_root() { [ "$(id -u)" = 0 ]; }

# The postgres user may not be allowed into the caller's directory.
cd /

# Runs a PostgreSQL binary as the `postgres` user when root (initdb and postgres refuse root).
as_pg() {
  if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

# MARK: Installation

APT_UPDATED=0
apt_install() { # apt_install PACKAGE...
  is_root || die "$* missing and not root: install $* first"
  command -v apt-get >/dev/null || die "$* missing and no apt-get: install $* first"
  export DEBIAN_FRONTEND=noninteractive
  local pkg
  for pkg in "$@"; do
    if [ "$APT_UPDATED" = 0 ] && ! apt-cache show "$pkg" >/dev/null 2>&1; then
      log "apt-get update"
      apt-get update -qq </dev/null >&2 || die "apt-get update failed"
      APT_UPDATED=1
    fi
  done
  log "apt-get install $*"
  apt-get install -y -qq -o Dpkg::Options::=--force-confold "$@" </dev/null >&2 || die "apt-get install $* failed"
}

ensure_installed() {
  if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_basebackup" ]; then
    # The package would create and start a cluster of its own on 5432; we want only ours.
    if is_root && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
      mkdir -p /etc/postgresql-common
      echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
    fi
    apt_install postgresql-15
    [ -x "$PG_BIN/initdb" ] || die "postgresql-15 installed but $PG_BIN/initdb is missing"
  fi
  if ! command -v redis-server >/dev/null; then
    apt_install redis-server
  fi
  if is_root && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
}

# MARK: Ports and probes

free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'
    return
  fi
  local p i
  for i in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

pg_up() { # pg_up PORT
  as_pg "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$1" -d postgres -t 2
}

redis_up() { # redis_up PORT
  if command -v redis-cli >/dev/null; then
    [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# MARK: Servers

start_pg() { # start_pg NAME
  local data=$DIR/$1
  # 9>&-: the servers must not inherit (and so keep holding) this script's lock.
  as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$DIR/$1.log" -w -t 60 start >/dev/null 9>&- \
    || die "PostgreSQL $1 did not start (see $DIR/$1.log)"
}

stop_pg() { # stop_pg NAME
  local data=$DIR/$1
  [ -f "$data/postmaster.pid" ] || return 0
  as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1 \
    || as_pg "$PG_BIN/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 \
    || log "could not stop PostgreSQL $1"
}

start_redis() { # start_redis PORT
  mkdir -p "$DIR/redis"
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$DIR/redis" --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" >/dev/null 9>&- \
    || die "redis-server did not start (see $DIR/redis.log)"
  local i
  for i in $(seq 50); do
    redis_up "$1" && return 0
    sleep 0.1
  done
  die "redis-server did not answer on port $1 (see $DIR/redis.log)"
}

stop_redis() {
  [ -f "$DIR/redis.pid" ] || return 0
  local pid i
  pid=$(cat "$DIR/redis.pid" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

write_env() { # write_env P1 P2 P3
  cat >"$ENV_FILE.tmp" <<EOF
export CHAINFEED_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$1/chainfeed
export CHAINFEED_TEST_REPLICA_URL=postgresql://postgres@127.0.0.1:$2/chainfeed
export CHAINFEED_TEST_REDIS_URL=redis://127.0.0.1:$3
export CHAINFEED_TEST_PG_BIN=$PG_BIN
export CHAINFEED_TEST_PG_PRIMARY_DATA=$DIR/primary
export CHAINFEED_TEST_PG_REPLICA_DATA=$DIR/replica
export CHAINFEED_TEST_SERVERS_DIR=$DIR
EOF
  mv "$ENV_FILE.tmp" "$ENV_FILE"
  printf '%s\n%s\n%s\n' "$1" "$2" "$3" >"$DIR/ports"
}

fresh_start() {
  local p1 p2 p3
  ensure_installed
  rm -rf "$DIR"
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  is_root && chown postgres "$DIR"

  p1=$(free_port)
  log "PostgreSQL primary on 127.0.0.1:$p1"
  as_pg "$PG_BIN/initdb" -D "$DIR/primary" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >"$DIR/initdb.log" 2>&1 \
    || as_pg "$PG_BIN/initdb" -D "$DIR/primary" -A trust -U postgres -E UTF8 --locale=C --no-sync >"$DIR/initdb.log" 2>&1 \
    || die "initdb failed (see $DIR/initdb.log)"
  as_pg mkdir -p "$DIR/run"
  cat >>"$DIR/primary/postgresql.conf" <<CONF

# chainfeed test server
port = $p1
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR/run'
max_connections = 300
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
fsync = ${CHAINFEED_TEST_PG_FSYNC:-on}
CONF
  cat >>"$DIR/primary/pg_hba.conf" <<HBA
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
HBA
  start_pg primary
  as_pg "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$p1" -U postgres -d postgres -c "CREATE DATABASE chainfeed" >/dev/null \
    || die "could not create database chainfeed"

  p2=$(free_port)
  log "PostgreSQL replica on 127.0.0.1:$p2"
  as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$p1" -U postgres -D "$DIR/replica" -R -X stream -c fast >"$DIR/basebackup.log" 2>&1 \
    || die "pg_basebackup failed (see $DIR/basebackup.log)"
  echo "port = $p2" >>"$DIR/replica/postgresql.conf"
  start_pg replica

  p3=$(free_port)
  log "Redis on 127.0.0.1:$p3"
  start_redis "$p3"

  write_env "$p1" "$p2" "$p3"
}

# Restarts whatever of an existing set stopped (say a killed replica); false if the set is unusable.
resume() {
  [ -f "$ENV_FILE" ] && [ -f "$DIR/ports" ] && [ -d "$DIR/primary" ] && [ -d "$DIR/replica" ] || return 1
  local p1 p2 p3
  { read -r p1; read -r p2; read -r p3; } <"$DIR/ports"
  pg_up "$p1" || { log "restarting the primary"; start_pg primary; } || return 1
  pg_up "$p2" || { log "restarting the replica"; start_pg replica; } || return 1
  redis_up "$p3" || { log "restarting Redis"; start_redis "$p3"; } || return 1
  pg_up "$p1" && pg_up "$p2" && redis_up "$p3"
}

cmd_start() {
  if [ -d "$DIR" ]; then
    { [ -x "$PG_BIN/pg_ctl" ] && command -v redis-server >/dev/null; } || ensure_installed
    if (resume); then
      cat "$ENV_FILE"
      return
    fi
    log "the existing servers in $DIR are unusable; starting afresh"
    cmd_stop
  fi
  fresh_start
  cat "$ENV_FILE"
}

cmd_stop() {
  if [ -d "$DIR" ]; then
    if [ -x "$PG_BIN/pg_ctl" ]; then
      stop_pg replica
      stop_pg primary
    fi
    stop_redis
    rm -rf "$DIR"
  fi
}

cmd_env() {
  [ -f "$ENV_FILE" ] || die "not started: run 'bash scripts/test-servers.sh start' first"
  cat "$ENV_FILE"
}

# One command at a time per state directory (two shells may start the servers at once).
with_lock() {
  exec 9>"$DIR.lock"
  if command -v flock >/dev/null; then
    flock -w 300 9 || die "timed out waiting for another test-servers.sh on $DIR"
  fi
  "$@"
}

case "${1:-}" in
  start) with_lock cmd_start ;;
  stop) with_lock cmd_stop ;;
  env) cmd_env ;;
  *)
    echo "usage: $0 start|stop|env" >&2
    exit 2
    ;;
esac
