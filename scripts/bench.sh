#!/usr/bin/env bash
# Chainfeed's benchmark (issue 7): starts everything it needs on loopback, runs bounded loads that stop by
# themselves, stops what it started, and prints ONE markdown table (machine, settings, each figure beside its
# reference and the ratio). See docs/BENCHMARKS.md for what each figure means and what limits it.
#
#   bash scripts/bench.sh                 # everything, about 6–8 minutes on 2 cores once built
#
# Sections (in this order): fan-out at 1,000 / 5,000 / 10,000 WebSocket connections vs nchan; selective
# filters (one account per connection) at 1,000 vs 10,000; ingest with dedup vs a plain COPY; REST with wrk
# vs pgbench on the same read replica. Knobs (environment):
#   BENCH_SECTIONS   "fanout select ingest rest" (a subset runs only those; the rest read "not measured")
#   BENCH_CONNS      "1000 5000 10000"   fan-out connection counts
#   BENCH_SECONDS    10                  measured window of each fan-out / filter run
#   BENCH_REST_BLOCKS 1000000            rows generated into `blocks` for the REST section
#   BENCH_DIR        /tmp/chainfeed-bench (state, logs, results.env; removed at start)
#   BENCH_SKIP_BUILD 1 reuses existing .build/release binaries (while iterating on the script)
# Runs as root on Debian (apt-get installs wrk, nginx, libnginx-mod-nchan, postgresql-15 (ships pgbench),
# redis-server when missing). Never reads stdin.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
SECTIONS=${BENCH_SECTIONS:-fanout select ingest rest}
CONNS=${BENCH_CONNS:-1000 5000 10000}
SECONDS_WINDOW=${BENCH_SECONDS:-10}
REST_BLOCKS=${BENCH_REST_BLOCKS:-1000000}
WORK=${BENCH_DIR:-/tmp/chainfeed-bench}
case "$WORK" in /*) ;; *) WORK=$PWD/$WORK ;; esac
case "$WORK" in "" | / | /tmp | /root | /home | /usr* | /etc* | /var | /bin* | /lib*) echo "bench: refusing BENCH_DIR '$WORK'" >&2; exit 2 ;; esac
export CHAINFEED_TEST_SERVERS_DIR=$WORK/servers
RESULTS=$WORK/results.env
LOGS=$WORK/logs
B=$ROOT/.build/release/chainfeed
BENCH=$ROOT/.build/release/chainfeed-bench

log() { echo "bench: $*" >&2; }
die() { log "error: $*"; exit 1; }
put() { echo "$1=$2" >>"$RESULTS"; }
want() { [[ " $SECTIONS " == *" $1 "* ]]; }
elapsed() { echo $(($(date +%s) - T_START)); }

# MARK: Processes this script started (and only those) are stopped on exit

STARTED=()
NGINX_PID=""
stop_pid() { # stop_pid PID: TERM, up to 10 s, then KILL
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
start_bg() { # start_bg NAME CMD...: runs in the background, logs to $LOGS/NAME.log, sets LAST_PID
  local name=$1; shift
  "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  LAST_PID=$!
  STARTED+=("$LAST_PID")
}
stop_nginx() {
  [ -n "$NGINX_PID" ] || return 0
  kill -QUIT "$NGINX_PID" 2>/dev/null || true
  local i
  for i in $(seq 100); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$NGINX_PID" 2>/dev/null && kill -TERM "$NGINX_PID" 2>/dev/null || true
  NGINX_PID=""
}
cleanup() {
  local pid
  stop_nginx
  for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
  bash "$ROOT/scripts/test-servers.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# MARK: Installation and build

APT_UPDATED=0
apt_install() {
  [ "$(id -u)" = 0 ] || die "$* missing and not root: install $* first"
  export DEBIAN_FRONTEND=noninteractive
  if [ "$APT_UPDATED" = 0 ]; then apt-get update -qq </dev/null >&2 || die "apt-get update failed"; APT_UPDATED=1; fi
  log "apt-get install $*"
  apt-get install -y -qq -o Dpkg::Options::=--force-confold "$@" </dev/null >&2 || die "apt-get install $* failed"
}
install_missing() {
  local missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v nginx >/dev/null || missing+=(nginx)
  [ -f /usr/lib/nginx/modules/ngx_nchan_module.so ] || missing+=(libnginx-mod-nchan)
  # Debian ships pgbench for PostgreSQL 15 in the server package postgresql-15 (not in the client package).
  [ -x /usr/lib/postgresql/15/bin/pgbench ] || missing+=(postgresql-15)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v psql >/dev/null || missing+=(postgresql-client-15)
  if [ ${#missing[@]} -gt 0 ]; then
    if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
      mkdir -p /etc/postgresql-common
      echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
    fi
    apt_install "${missing[@]}"
  fi
  command -v swift >/dev/null || die "swift is not on PATH"
  dpkg -s libpq-dev >/dev/null 2>&1 && dpkg -s libhiredis-dev >/dev/null 2>&1 || apt_install libpq-dev libhiredis-dev
}

free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()' 2>/dev/null && return
  local p
  while :; do p=$((20000 + RANDOM % 30000)); (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }; done
}
wait_http() { # wait_http URL SECONDS
  local i
  for i in $(seq $(($2 * 10))); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
  return 1
}

# MARK: PostgreSQL helpers (primary and streaming replica from scripts/test-servers.sh)

PGBIN=/usr/lib/postgresql/15/bin
export PGOPTIONS="-c client_min_messages=warning"  # no NOTICE for DROP DATABASE IF EXISTS
# The server's own psql, not Debian's perl wrapper: the ingest section polls while it measures, and each
# wrapper start costs the 2 cores ~30 ms of CPU that the writer would otherwise have.
psql_primary() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$PRIMARY/$1" "${@:2}"; }
psql_replica() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$REPLICA/$1" "${@:2}"; }
wait_replica() { # wait_replica DB: until the replica has replayed everything the primary wrote so far
  local lsn i
  lsn=$(psql_primary "$1" -c "SELECT pg_current_wal_lsn()")
  for i in $(seq 1200); do
    [ "$(psql_replica "$1" -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" 2>/dev/null)" = t ] && return 0
    sleep 0.1
  done
  die "the replica did not catch up with $1"
}
new_db() { # new_db NAME: a fresh database with the schema, visible on the replica
  psql_primary postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
  "$B" migrate --database-url "$PRIMARY/$1" --log-level warning >>"$LOGS/migrate.log" 2>&1 || die "migrate $1 failed (see $LOGS/migrate.log)"
  wait_replica "$1"
}
start_serve() { # start_serve DB PREFIX [extra flags]: sets SERVE_PID, SERVE_PORT
  SERVE_PORT=$(free_port)
  start_bg "serve-$1" bash -c 'ulimit -n "$(ulimit -Hn)"; exec "$@"' serve "$B" serve --read-database-url "$REPLICA/$1" \
    --redis-url "$REDIS" --redis-channel-prefix "$2" --host 127.0.0.1 --port "$SERVE_PORT" \
    --max-connections 20000 --log-level warning "${@:3}"
  SERVE_PID=$LAST_PID
  wait_http "http://127.0.0.1:$SERVE_PORT/health" 30 || die "serve did not start (see $LOGS/serve-$1.log)"
}

# MARK: nginx + nchan, the peer (stores in the same Redis)

start_nchan() { # start_nchan CHANNEL-DIR: sets NCHAN_PORT, NGINX_PID, NGINX_PIDS (master and workers)
  local dir=$WORK/nchan
  rm -rf "$dir"; mkdir -p "$dir/tmp"
  NCHAN_PORT=$(free_port)
  cat >"$dir/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
daemon on;
worker_processes auto;
worker_rlimit_nofile 20000;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 19000; multi_accept on; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    upstream nchan_redis { nchan_redis_server redis://127.0.0.1:$REDIS_PORT; }
    nchan_shared_memory_size 256M;
    server {
        listen 127.0.0.1:$NCHAN_PORT backlog=4096;
        location = /health { return 200 "ok\n"; }
        location ~ ^/pub/([A-Za-z0-9_-]+)$ {
            allow 127.0.0.1; deny all;
            nchan_publisher http;
            nchan_channel_id \$1;
            nchan_redis_pass nchan_redis;
            nchan_message_buffer_length 100;
            nchan_message_timeout 60s;
        }
        location ~ ^/ws/([A-Za-z0-9_-]+)$ {
            nchan_subscriber websocket;
            nchan_channel_id \$1;
            nchan_redis_pass nchan_redis;
            nchan_subscriber_first_message newest;
            nchan_websocket_ping_interval 30;
        }
    }
}
CONF
  (ulimit -n "$(ulimit -Hn)"; nginx -p "$dir/" -c "$dir/nginx.conf" </dev/null) || die "nginx did not start (see $dir/error.log)"
  NGINX_PID=$(cat "$dir/nginx.pid")
  wait_http "http://127.0.0.1:$NCHAN_PORT/health" 10 || die "nchan did not answer (see $dir/error.log)"
  sleep 0.5
  NGINX_PIDS="--pid $NGINX_PID"
  local w
  for w in $(pgrep -P "$NGINX_PID"); do NGINX_PIDS="$NGINX_PIDS --pid $w"; done
}

wait_file_or_exit() { # wait_file_or_exit FILE PID SECONDS
  local i
  for i in $(seq $(($3 * 10))); do
    [ -f "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# MARK: Sections

# Events/s per connection count: about 20,000 deliveries/s at each size, as in shared/BASELINES.md. With one
# deploy per block the simulator sends ~3.3 matching events per block (accepted + block + processed + extras).
interval_for() { case "$1" in 1000) echo 165 ;; 5000) echo 825 ;; 10000) echo 1650 ;; *) echo $((165 * $1 / 1000)) ;; esac; }

fanout_one() { # fanout_one N
  local n=$1 db=bench_fan_$1 prefix=benchfan$1 interval ready bench_pid sim_port ingest_port sim_pid ingest_pid
  interval=$(interval_for "$n")
  put "fanout.$n.block_interval_ms" "$interval"
  new_db "$db"
  start_serve "$db" "$prefix"
  ready=$WORK/ready.cf.$n; rm -f "$ready"
  log "fan-out: Chainfeed, $n connections (block every $interval ms)"
  start_bg "bench-fanout-cf-$n" "$BENCH" fanout --url "ws://127.0.0.1:$SERVE_PORT/ws?topics=blocks,deploys" \
    --connections "$n" --source watch --redis "$REDIS" --channel-prefix "$prefix" --pid "$SERVE_PID" \
    --ready-file "$ready" --duration "$SECONDS_WINDOW" --warmup 2 --grace 2 --label "fanout.cf.$n" --out "$RESULTS"
  bench_pid=$LAST_PID
  if ! wait_file_or_exit "$ready" "$bench_pid" 120; then
    put "notmeasured.fanout.$n" "the load client did not get its connections up (see $LOGS/bench-fanout-cf-$n.log)"
    stop_pid "$bench_pid"; stop_pid "$SERVE_PID"; return
  fi
  # The writer path: simulated node → chainfeed ingest (stores, then publishes on Redis) → serve → clients.
  sim_port=$(free_port); ingest_port=$(free_port)
  start_bg "sim-$n" "$B" simulate-node --port "$sim_port" --block-interval-ms "$interval" --deploys-per-block 1 --log-level warning
  sim_pid=$LAST_PID
  wait_http "http://127.0.0.1:$sim_port/status" 20 || die "simulator did not start"
  start_bg "ingest-$n" "$B" ingest --node "http://127.0.0.1:$sim_port" --database-url "$PRIMARY/$db" --redis-url "$REDIS" \
    --redis-channel-prefix "$prefix" --host 127.0.0.1 --port "$ingest_port" --log-level warning
  ingest_pid=$LAST_PID
  wait "$bench_pid" || log "fan-out Chainfeed $n: the load client failed (see $LOGS/bench-fanout-cf-$n.log)"
  stop_pid "$SERVE_PID"

  # The same events, relayed by the load client to nchan as the very frames Chainfeed sent.
  log "fan-out: nchan, $n connections"
  start_nchan
  start_bg "bench-fanout-nchan-$n" "$BENCH" fanout --url "ws://127.0.0.1:$NCHAN_PORT/ws/cf$n" --ready-on upgrade \
    --connections "$n" --source relay --relay "http://127.0.0.1:$NCHAN_PORT/pub/cf$n" --redis "$REDIS" \
    --channel-prefix "$prefix" $NGINX_PIDS --duration "$SECONDS_WINDOW" --warmup 2 --grace 2 \
    --label "fanout.nchan.$n" --out "$RESULTS"
  wait "$LAST_PID" || { log "fan-out nchan $n: the load client failed (see $LOGS/bench-fanout-nchan-$n.log)"; put "notmeasured.nchan.$n" "load client failed"; }
  stop_nginx
  stop_pid "$ingest_pid"; stop_pid "$sim_pid"
}

select_one() { # select_one N
  local n=$1 db=bench_sel_$1 prefix=benchsel$1
  new_db "$db"
  start_serve "$db" "$prefix"
  log "selective filters: $n connections, one account each"
  start_bg "bench-select-$n" "$BENCH" fanout --url "ws://127.0.0.1:$SERVE_PORT/ws?topics=deploys" --account-filter \
    --connections "$n" --source publish --rate "$SELECT_RATE" --redis "$REDIS" --channel-prefix "$prefix" \
    --pid "$SERVE_PID" --duration "$SECONDS_WINDOW" --warmup 1 --grace 2 --label "select.cf.$n" --out "$RESULTS"
  wait "$LAST_PID" || put "notmeasured.select.$n" "load client failed (see $LOGS/bench-select-$n.log)"
  stop_pid "$SERVE_PID"
}

ingest_round() { # ingest_round N: one writer run and one COPY of the same rows; appends "ratio rate events secs copy_rate copy_rows copy_secs"
  local db=bench_ingest_$1 blocks=5000 sim_port ingest_port sim_pid ingest_pid t0 t_last last now v stable total rate secs copy_secs copy_rate copy_rows
  new_db "$db"
  sim_port=$(free_port); ingest_port=$(free_port)
  log "ingest round $1: simulator with $blocks pre-generated blocks (3 deploys each)"
  start_bg "sim-ingest-$1" "$B" simulate-node --port "$sim_port" --initial-blocks "$blocks" --deploys-per-block 3 \
    --block-interval-ms 3600000 --buffer-size 100000 --log-level warning
  sim_pid=$LAST_PID
  wait_http "http://127.0.0.1:$sim_port/status" 120 || die "simulator did not start"
  t0=$(date +%s.%N)
  start_bg "ingest-bulk-$1" "$B" ingest --node "http://127.0.0.1:$sim_port" --database-url "$PRIMARY/$db" --redis-url "$REDIS" \
    --redis-channel-prefix benchingest --host 127.0.0.1 --port "$ingest_port" --log-level warning
  ingest_pid=$LAST_PID
  # Stored head seq, polled on the primary every 0.1 s until it stops moving for 2 s (bounded at 120 s).
  last=0; t_last=$t0; stable=0
  for _ in $(seq 1200); do
    sleep 0.1
    v=$(psql_primary "$db" -c "SELECT value FROM counters WHERE name = 'seq'" 2>/dev/null || echo 0)
    now=$(date +%s.%N)
    if [ "$v" != "$last" ]; then last=$v; t_last=$now; stable=0; else stable=$((stable + 1)); fi
    [ "$last" -gt 0 ] && [ "$stable" -ge 20 ] && break
  done
  stop_pid "$ingest_pid"; stop_pid "$sim_pid"
  total=$last
  [ "$total" -gt 0 ] || return 0
  secs=$(awk -v a="$t0" -v b="$t_last" 'BEGIN{printf "%.2f", b-a}')
  rate=$(awk -v n="$total" -v a="$t0" -v b="$t_last" 'BEGIN{printf "%.0f", n/(b-a)}')

  # The limit: the same rows, COPYed into a scratch table with the same columns and indexes.
  log "ingest round $1: plain COPY of the same $total rows"
  psql_primary "$db" -c "\\copy (SELECT * FROM events ORDER BY seq) TO '$WORK/events.copy'"
  psql_primary "$db" -c "CREATE TABLE copy_scratch (LIKE events INCLUDING ALL)"
  t0=$(date +%s.%N)
  psql_primary "$db" -c "\\copy copy_scratch FROM '$WORK/events.copy'"
  now=$(date +%s.%N)
  copy_rows=$(psql_primary "$db" -c "SELECT count(*) FROM copy_scratch")
  copy_secs=$(awk -v a="$t0" -v b="$now" 'BEGIN{printf "%.2f", b-a}')
  copy_rate=$(awk -v n="$total" -v a="$t0" -v b="$now" 'BEGIN{printf "%.0f", n/(b-a)}')
  rm -f "$WORK/events.copy"
  psql_primary postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  echo "$(awk -v a="$rate" -v b="$copy_rate" 'BEGIN{printf "%.3f", a/b}') $rate $total $secs $copy_rate $copy_rows $copy_secs" >>"$WORK/ingest-rounds"
}

# Five rounds, each writer run beside its own COPY; the round with the median ratio is reported (the
# shared machine's noise moves single runs by ±30 %), the five ratios beside it.
ingest_section() {
  local r median
  rm -f "$WORK/ingest-rounds"
  for r in 1 2 3 4 5; do ingest_round "$r"; done
  if [ ! -s "$WORK/ingest-rounds" ]; then put notmeasured.ingest "the writer stored nothing (see $LOGS/ingest-bulk-*.log)"; return; fi
  median=$(sort -n "$WORK/ingest-rounds" | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')
  set -- $median
  put ingest.rate "$2"; put ingest.events "$3"; put ingest.seconds "$4"
  put copy.rate "$5"; put copy.rows "$6"; put copy.seconds "$7"
  put ingest.ratios "$(awk '{printf "%s%.2f", (NR>1?" / ":""), $1}' "$WORK/ingest-rounds")"
}

wrk_run() { # wrk_run KEY URL: req/s and p99 ms
  local out rps p99
  out=$(wrk -t2 -c"$REST_CONC" -d"${REST_SECONDS}s" --latency "$2" 2>&1) || { put "notmeasured.rest.$1" "wrk failed"; return; }
  echo "$out" >"$LOGS/wrk-$1.log"
  if echo "$out" | grep -q "Non-2xx"; then put "notmeasured.rest.$1" "non-2xx answers (see $LOGS/wrk-$1.log)"; return; fi
  rps=$(echo "$out" | awk '/^Requests\/sec:/ {printf "%.0f", $2}')
  p99=$(echo "$out" | awk '$1 == "99%" { v=$2; if (v ~ /us$/) { sub(/us$/,"",v); v=v/1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v=v*1000 } printf "%.2f", v }')
  put "rest.$1.rps" "$rps"; put "rest.$1.p99_ms" "$p99"
}

# -M prepared, as Chainfeed's sessions prepare each query once (PGConnection): the reference gets the same
# parse-once, plan-once execution, so the ratio is the HTTP server's cost, not a protocol difference.
pgbench_run() { # pgbench_run KEY SQLFILE: transactions/s (one transaction = the request's statements) and p99 ms
  local dir=$WORK/pgbench-$1 out
  rm -rf "$dir"; mkdir -p "$dir"
  out=$(cd "$dir" && "$PGBIN/pgbench" -n -M prepared -c "$REST_CONC" -j 2 -T "$REST_SECONDS" -f "$2" -l --log-prefix=tx \
    -h 127.0.0.1 -p "$REPLICA_PORT" -U postgres bench_rest 2>&1) || { put "notmeasured.pg.$1" "pgbench failed"; echo "$out" >"$LOGS/pgbench-$1.log"; return; }
  echo "$out" >"$LOGS/pgbench-$1.log"
  put "pg.$1.tps" "$(echo "$out" | awk '/^tps = / {printf "%.0f", $3}' | head -1)"
  put "pg.$1.p99_ms" "$(cat "$dir"/tx* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.2f", a[i]/1000}')"
  rm -rf "$dir"
}

rest_section() {
  local db=bench_rest account deep_page per_account=100000 cols
  new_db "$db"
  account=01$(printf 'ab%.0s' $(seq 32))
  log "REST: generating $REST_BLOCKS blocks and $per_account deploys of one account (INSERT … SELECT generate_series)"
  psql_primary "$db" >/dev/null <<SQL
INSERT INTO blocks (block_hash, pos, height, parent_hash, "timestamp", era_id, proposer, state, deploys)
SELECT md5('b' || g) || md5('c' || g), g, g - 1, md5('b' || (g - 1)) || md5('c' || (g - 1)),
       '2024-01-01T00:00:00.000Z', (g - 1) / 10, '01' || md5('p' || (g % 5)) || md5('q' || (g % 5)), 'finalized',
       jsonb_build_array(md5('d' || g) || md5('e' || g))
FROM generate_series(1, $REST_BLOCKS) AS g;
UPDATE counters SET value = $REST_BLOCKS WHERE name = 'blocks';
INSERT INTO deploys (deploy_hash, account, state, cost, error_message, block_hash, "timestamp")
SELECT md5('x' || g) || md5('y' || g), '$account', 'processed', '100000000', NULL, md5('b' || g) || md5('c' || g),
       '2024-01-01T00:00:00.000Z'
FROM generate_series(1, $per_account) AS g;
INSERT INTO account_deploys (account, pos, deploy_hash)
SELECT '$account', g, md5('x' || g) || md5('y' || g) FROM generate_series(1, $per_account) AS g;
INSERT INTO account_counters (account, count) VALUES ('$account', $per_account);
ANALYZE;
SQL
  wait_replica "$db"
  put rest.blocks "$(psql_replica "$db" -c "SELECT value FROM counters WHERE name = 'blocks'")"
  put rest.account_deploys "$per_account"
  deep_page=$((REST_BLOCKS / 10))
  put rest.deep_page "$deep_page"
  put rest.concurrency "$REST_CONC"; put rest.seconds "$REST_SECONDS"

  start_serve "$db" benchrest
  curl -fs "http://127.0.0.1:$SERVE_PORT/blocks?limit=10&page=$deep_page" | grep -q blockHash || die "deep page is empty"
  wrk_run page1 "http://127.0.0.1:$SERVE_PORT/blocks?limit=10"
  wrk_run deep "http://127.0.0.1:$SERVE_PORT/blocks?limit=10&page=$deep_page"
  wrk_run account "http://127.0.0.1:$SERVE_PORT/accountDeploys/$account?limit=10"
  stop_pid "$SERVE_PID"

  # The SQL each request runs (Sources/PostgresStore/ReadQueries.swift): one statement, the counter and the page
  # by position (page, limit and account as literals).
  cols='b.block_hash, b.parent_hash, b."timestamp", b.era_id, b.proposer, b.state, b.height, b.deploys::text'
  blocks_sql() { # blocks_sql PAGE LIMIT
    echo "SELECT $cols, n.value FROM (SELECT value FROM counters WHERE name = 'blocks') n CROSS JOIN LATERAL (SELECT n.value - least($1::bigint - 1, n.value) * $2::bigint AS hi) r LEFT JOIN LATERAL (SELECT * FROM blocks WHERE pos <= r.hi ORDER BY pos DESC LIMIT $2::bigint) b ON true ORDER BY b.pos DESC;"
  }
  blocks_sql 1 10 >"$WORK/page1.sql"
  blocks_sql "$deep_page" 10 >"$WORK/deep.sql"
  echo "SELECT x.deploy_hash, x.account, x.state, x.cost, x.error_message, x.block_hash, x.\"timestamp\", n.count FROM (SELECT count FROM account_counters WHERE account = '$account') n CROSS JOIN LATERAL (SELECT n.count - least(1::bigint - 1, n.count) * 10::bigint AS hi) r LEFT JOIN LATERAL (SELECT d.*, a.pos FROM account_deploys a JOIN deploys d ON d.deploy_hash = a.deploy_hash WHERE a.account = '$account' AND a.pos <= r.hi ORDER BY a.pos DESC LIMIT 10) x ON true ORDER BY x.pos DESC;" >"$WORK/account.sql"
  pgbench_run page1 "$WORK/page1.sql"
  pgbench_run deep "$WORK/deep.sql"
  pgbench_run account "$WORK/account.sql"
}

# MARK: Run

bash "$ROOT/scripts/test-servers.sh" stop >/dev/null 2>&1 || true  # a previous run's servers, if any
rm -rf "$WORK"
mkdir -p "$LOGS"
chmod 755 "$WORK"
: >"$RESULTS"
install_missing
if [ "${BENCH_SKIP_BUILD:-0}" = 1 ] && [ -x "$B" ] && [ -x "$BENCH" ]; then
  log "BENCH_SKIP_BUILD=1: using the existing release binaries"
else
log "building release (swift build -c release)"
(cd "$ROOT" && swift build -c release --product chainfeed >"$LOGS/build.log" 2>&1 && swift build -c release --product chainfeed-bench >>"$LOGS/build.log" 2>&1) \
  || { tail -30 "$LOGS/build.log" >&2; die "release build failed"; }
fi
T_BUILT=$(date +%s)

ulimit -n "$(ulimit -Hn)"
log "starting PostgreSQL primary + replica and Redis (scripts/test-servers.sh, state in $CHAINFEED_TEST_SERVERS_DIR)"
eval "$(bash "$ROOT/scripts/test-servers.sh" start 2>"$LOGS/test-servers.log")" || die "test servers did not start (see $LOGS/test-servers.log)"
PRIMARY=${CHAINFEED_TEST_DATABASE_URL%/*}
REPLICA=${CHAINFEED_TEST_REPLICA_URL%/*}
REDIS=$CHAINFEED_TEST_REDIS_URL
REDIS_PORT=${REDIS##*:}
REPLICA_PORT=${REPLICA##*:}
SELECT_RATE=2000
REST_CONC=4
REST_SECONDS=5

put machine.cores "$(nproc)"
put machine.model "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
put machine.ram_gib "$(awk '/^MemTotal/ {printf "%.0f", $2/1048576}' /proc/meminfo)"
put machine.versions "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') (fsync on, streaming replica), Redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'), $(nginx -v 2>&1 | sed 's/.*nginx\//nginx /') + nchan $(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null | sed 's/^1://; s/+.*//'), $(swift --version 2>/dev/null | head -1 | sed 's/.*Swift version \([^ ]*\).*/Swift \1/')"
put settings.run "everything on this one machine over loopback: servers, load client, PostgreSQL, Redis, simulator; fan-out windows of $SECONDS_WINDOW s after 2 s warm-up; load client chainfeed-bench (SwiftNIO, 2 event loops); sections: $SECTIONS"

if want fanout; then for n in $CONNS; do fanout_one "$n"; done; else for n in $CONNS; do put "notmeasured.fanout.$n" "section skipped (BENCH_SECTIONS)"; done; fi
if want select; then for n in 1000 10000; do select_one "$n"; done; else put notmeasured.select "section skipped (BENCH_SECTIONS)"; fi
if want ingest; then ingest_section; else put notmeasured.ingest "section skipped (BENCH_SECTIONS)"; fi
if want rest; then rest_section; else put notmeasured.rest "section skipped (BENCH_SECTIONS)"; fi

T_END=$(date +%s)
put settings.total "whole command $((T_END - T_START)) s (build $((T_BUILT - T_START)) s); load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shares the 2 cores)"
"$BENCH" report "$RESULTS"
log "results: $RESULTS, logs: $LOGS"
