#!/usr/bin/env bash
# bench/run.sh runs eventide-bench against Eventide and against the Node.js
# socket.io reference (bench/reference) under the same scenarios, each run
# on a freshly started server, and prints medians and ratios.
#
#   bash bench/run.sh            every case but cluster-hold-50k, RUNS runs each, both servers (make bench)
#   bash bench/run.sh smoke      seconds-long check of our server only (make bench-smoke, CI)
#   bash bench/run.sh CASE...    only these cases (see CASES below)
#   bash bench/run.sh cluster    the multi-node cases (cluster-*): for each run a private
#                                redis-server and three nodes of each server, alternately
#
# Environment: RUNS (default 3), SERVERS (default "eventide node"; "harness"
# is the Socket.IO stack alone, bin/bench-harness, for profiling the engine;
# "eventide-pg" is ours on PostgreSQL: a fresh database per run on
# BENCH_POSTGRES_URL, default the local server, its backends' CPU reported
# apart),
# EVENTIDE_BIN (bin/eventide), BENCH_BIN (bin/eventide-bench), OUT (results
# file, default bin/bench/results-<time>.jsonl), PORT_BASE (29100, below the ephemeral port range, so no outgoing connection holds it),
# PERF=1 records `perf record -g` of our server (all its nodes) for each run
# into bin/bench/. The cluster cases leave the private Redis's INFO commandstats in
# bin/bench/redis-commandstats-<case>-<server>-<run>.txt.
# PPROF=1 (cluster cases) fetches a 10 s CPU profile of our first node from
# its --admin-addr into bin/bench/pprof-<case>-<run>.pb.gz.
# The cluster cases (cluster-*) run "eventide" as three `eventide serve
# --adapter redis` nodes on one fresh PostgreSQL database (BENCH_POSTGRES_URL)
# ("eventide-p1": the same with GOMAXPROCS=1 in each node; on one node,
# "eventide-p1" is "eventide" with GOMAXPROCS=1)
# and "node" as three reference servers on @socket.io/redis-adapter, each
# run on a redis-server of its own (a free port, no persistence), whose CPU
# is read with INFO cpu.
# Everything listens on and targets 127.0.0.0/8 only; every run is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTIDE_BIN=${EVENTIDE_BIN:-bin/eventide}
BENCH_BIN=${BENCH_BIN:-bin/eventide-bench}
RUNS=${RUNS:-3}
SERVERS=${SERVERS:-eventide node}
PORT_BASE=${PORT_BASE:-29100}
mkdir -p bin/bench
OUT=${OUT:-bin/bench/results-$(date +%Y%m%d-%H%M%S).jsonl}

# Connections need file descriptors on both sides: raise the soft limit to
# the hard one (20000 here); 15,000 clients are spread over worker processes.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

for b in "$EVENTIDE_BIN" "$BENCH_BIN"; do
  [ -x "$b" ] || { echo "run.sh: $b missing: run make build $BENCH_BIN (or make bench)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/eventide-bench.XXXXXX")
server_pid=""
cluster_pids=() # every node of the cluster running now (server_pid is the first)
redis_pid=""    # the private redis-server of that cluster
redis_port=""
BENCH_POSTGRES_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
pg_db="" # the database of the eventide-pg server running now
server_flags=() # extra eventide-bench flags for the server running now
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
  local p
  if [ -n "$redis_pid" ] && [ -n "${redis_stats:-}" ]; then
    redis-cli -p "$redis_port" info commandstats >"$redis_stats" 2>/dev/null || true
  fi
  for p in "${cluster_pids[@]}" $redis_pid; do kill "$p" 2>/dev/null || true; done
  for p in "${cluster_pids[@]}" $redis_pid; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  cluster_pids=()
  redis_pid=""
  if [ -n "$pg_db" ]; then
    psql -q "$BENCH_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null || true
    pg_db=""
  fi
}
cleanup() { stop_server; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
token=$(EVENTIDE_JWT_SECRET="$secret" "$EVENTIDE_BIN" token --sub bench --role admin --ttl 2h | tail -n1)
[ -n "$token" ] || { echo "run.sh: eventide token printed nothing" >&2; exit 1; }

wait_healthy() { # url
  for _ in $(seq 100); do
    if curl -fsS -o /dev/null "$1/healthz" 2>/dev/null; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || { echo "run.sh: server exited" >&2; return 1; }
    sleep 0.1
  done
  echo "run.sh: $1 not healthy after 10s" >&2
  return 1
}

# port_free PORT: nothing listens on 127.0.0.1:PORT (so /healthz cannot be
# answered by a stranger).
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Every client of a run shares one token (sub "bench"), and the e2e scenarios
# write back to back with it: the per-subject rate limits, meant for people,
# are off. The per-socket event limit stays (each client sends one joinRoom).
eventide_limits=(--subject-event-rate 0 --rest-write-rate 0)

# start_server NAME PORT: starts a fresh server, sets server_pid.
start_server() {
  local name=$1 port=$2
  port_free "$port" || { echo "run.sh: 127.0.0.1:$port is in use; set PORT_BASE" >&2; return 1; }
  server_flags=()
  case $name in
    eventide-pg)
      pg_db="eventide_bench_$(date +%s)_$RANDOM"
      psql -q "$BENCH_POSTGRES_URL" -c "CREATE DATABASE $pg_db TEMPLATE template0" >/dev/null
      local db_url
      db_url=$(printf '%s' "$BENCH_POSTGRES_URL" | sed -E "s#^(postgres(ql)?://[^/]*)/[^?]*#\1/$pg_db#")
      "$EVENTIDE_BIN" serve --addr "127.0.0.1:$port" --raw-addr "" --env dev --jwt-secret "$secret" \
        --database-url "$db_url" --data-dir "$work/pg-$pg_db" --log-level warn "${eventide_limits[@]}" >"$work/$name.log" 2>&1 &
      server_flags=(--db-pids-cmd "psql -Atc \"SELECT pid FROM pg_stat_activity WHERE datname = '$pg_db'\" '$BENCH_POSTGRES_URL'")
      ;;
    eventide | eventide-p1)
      local db="$work/db-$RANDOM$RANDOM" env=()
      if [ "$name" = eventide-p1 ]; then env=(GOMAXPROCS=1); fi # one processor for Go code
      env "${env[@]}" "$EVENTIDE_BIN" serve --addr "127.0.0.1:$port" --raw-addr "" --env dev --jwt-secret "$secret" \
        --database-url "$db/eventide.db" --data-dir "$db" --log-level warn "${eventide_limits[@]}" >"$work/$name.log" 2>&1 &
      ;;
    harness) # the Socket.IO stack alone (cmd/eventide-bench/harness): no REST, so no e2e
      "${HARNESS_BIN:-bin/bench-harness}" --addr "127.0.0.1:$port" --pprof-addr "" --jwt-secret "$secret" >"$work/$name.log" 2>&1 &
      ;;
    node)
      node bench/reference/server.js --port "$port" --jwt-secret "$secret" >"$work/$name.log" 2>&1 &
      ;;
    *) echo "run.sh: unknown server $name" >&2; return 1 ;;
  esac
  server_pid=$!
  wait_healthy "http://127.0.0.1:$port" || { cat "$work/$name.log" >&2; return 1; }
}

# start_redis PORT: a private redis-server for one cluster run, sets redis_pid.
start_redis() {
  redis_port=$1
  port_free "$redis_port" || { echo "run.sh: 127.0.0.1:$redis_port is in use; set PORT_BASE" >&2; return 1; }
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    --logfile "$work/redis-$redis_port.log" &
  redis_pid=$!
  for _ in $(seq 100); do
    [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && return 0
    kill -0 "$redis_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "run.sh: redis-server on $redis_port did not start" >&2
  cat "$work/redis-$redis_port.log" >&2 || true
  return 1
}

# start_cluster NAME PORT: a private redis-server on PORT+5 and three nodes
# of NAME (eventide: on one fresh PostgreSQL database; node: the reference)
# on PORT..PORT+2, admin listeners (pprof) on PORT+6..PORT+8. Sets
# cluster_pids and node_urls (stop_server stops them all).
start_cluster() {
  local name=$1 port=$2 k
  server_flags=()
  node_urls=()
  start_redis $((port + 5))
  local key="bench-$RANDOM"
  local db_url=""
  local env=()
  if [ "$name" = eventide-p1 ]; then env=(GOMAXPROCS=1); fi # the same nodes on one processor each
  if [[ $name == eventide* ]]; then
    pg_db="eventide_bench_$(date +%s)_$RANDOM"
    psql -q "$BENCH_POSTGRES_URL" -c "CREATE DATABASE $pg_db TEMPLATE template0" >/dev/null
    db_url=$(printf '%s' "$BENCH_POSTGRES_URL" | sed -E "s#^(postgres(ql)?://[^/]*)/[^?]*#\1/$pg_db#")
    server_flags=(--db-pids-cmd "psql -Atc \"SELECT pid FROM pg_stat_activity WHERE datname = '$pg_db'\" '$BENCH_POSTGRES_URL'")
  fi
  for k in 0 1 2; do
    local p=$((port + k))
    port_free "$p" || { echo "run.sh: 127.0.0.1:$p is in use; set PORT_BASE" >&2; return 1; }
    case $name in
      eventide | eventide-p1)
        env "${env[@]}" "$EVENTIDE_BIN" serve --addr "127.0.0.1:$p" --raw-addr "" --admin-addr "127.0.0.1:$((port + 6 + k))" \
          --env dev --jwt-secret "$secret" --database-url "$db_url" --data-dir "$work/pg-$pg_db-$k" \
          --adapter redis --redis-url "redis://127.0.0.1:$redis_port" --redis-key "$key" \
          --log-level warn "${eventide_limits[@]}" >"$work/$name-$k.log" 2>&1 &
        ;;
      node)
        node bench/reference/server.js --port "$p" --jwt-secret "$secret" \
          --redis-url "redis://127.0.0.1:$redis_port" --redis-key "$key" >"$work/$name-$k.log" 2>&1 &
        ;;
      *) echo "run.sh: no cluster of $name (eventide, eventide-p1, node)" >&2; return 1 ;;
    esac
    cluster_pids+=($!)
    node_urls+=("http://127.0.0.1:$p")
  done
  for k in 0 1 2; do
    server_pid=${cluster_pids[$k]}
    wait_healthy "${node_urls[$k]}" || { cat "$work/$name-$k.log" >&2; server_pid=""; return 1; }
  done
  server_pid="" # stop_server stops cluster_pids
  server_flags+=(--redis-addr "127.0.0.1:$redis_port")
}

# The cases: name and eventide-bench flags. Documented in docs/performance.md.
declare -A CASES=(
  [fanout-1k]="--scenario fanout --clients 1000 --events 200 --batch 200"
  [fanout-1k-seq]="--scenario fanout --clients 1000 --events 200"
  [fanout-10k]="--scenario fanout --clients 10000 --events 20 --batch 20"
  [fanout-10k-paced]="--scenario fanout --clients 10000 --events 10 --rate 2"
  [rooms-5k]="--scenario rooms --clients 5000 --rooms 500 --events 2000"
  [e2e]="--scenario e2e --clients 1000 --rooms 10 --events 300"
  [e2e-1000]="--scenario e2e --clients 1000 --rooms 10 --events 1000"
  # e2e-1000 at a fixed 400 PATCHes a second, the same offered load for
  # both servers: latency compared at equal load (the closed-loop cases
  # above send the next PATCH as soon as the last is answered, so the faster
  # server is also the busier one).
  [e2e-paced]="--scenario e2e --clients 1000 --rooms 10 --events 1000 --rate 400"
  [e2e-room-1k]="--scenario e2e --clients 1000 --rooms 1 --events 300"
  [e2e-rooms-10]="--scenario e2e --clients 1000 --rooms 100 --events 1000"
  # One client, 3,000 PATCHes: what one REST change costs (HTTP, auth, the
  # durable write with its event log, the relay), one delivery each.
  [rest-1]="--scenario e2e --clients 1 --rooms 1 --events 3000"
  # Every client on HTTP long-polling (never upgrading), one room of 500.
  [polling]="--scenario e2e --clients 500 --rooms 1 --events 100 --polling-percent 100"
  [idle-1k]="--scenario idle --clients 1000 --settle 3s"
  [idle-10k]="--scenario idle --clients 10000 --settle 5s"
  [hold-15k]="--scenario fanout --clients 15000 --events 3 --rate 1"
  # Three nodes on one Redis (start_cluster): clients spread evenly, every
  # room over every node; each PATCH to a random node.
  [cluster-e2e]="--scenario e2e --clients 1000 --rooms 10 --events 1000"
  [cluster-room-1k]="--scenario e2e --clients 1000 --rooms 1 --events 300"
  # cluster-e2e with a fifth of the clients on long-polling (sticky: each
  # client polls one node), as clients behind proxies that refuse WebSocket.
  [cluster-mixed]="--scenario e2e --clients 1000 --rooms 10 --events 1000 --polling-percent 20"
  # 50,000 connections over the three nodes (about 16,700 each, from 10
  # worker processes), 3 broadcasts to all, one per second. Not in "cluster".
  [cluster-hold-50k]="--scenario fanout --clients 50000 --events 3 --rate 1 --max-time 10m --wait 2m"
)
CLUSTER=(cluster-e2e cluster-room-1k cluster-mixed)
ORDER=(fanout-1k fanout-1k-seq fanout-10k fanout-10k-paced rooms-5k e2e e2e-1000 e2e-paced e2e-room-1k e2e-rooms-10 rest-1 polling idle-1k idle-10k hold-15k "${CLUSTER[@]}")

# bench_one NAME PORT CASE RUN [extra flags]: one run on a fresh server.
bench_one() {
  local name=$1 port=$2 case=$3 run=$4; shift 4
  local url pids
  if [[ $case == cluster-* ]]; then
    start_cluster "$name" "$port" || { stop_server; return 1; }
    url=$(IFS=,; echo "${node_urls[*]}")
    pids=$(IFS=,; echo "${cluster_pids[*]}")
  else
    start_server "$name" "$port"
    url="http://127.0.0.1:$port"
    pids=$server_pid
  fi
  local perf_pid="" pprof_pid=""
  redis_stats=""
  [[ $case == cluster-* ]] && redis_stats="bin/bench/redis-commandstats-$case-$name-$run.txt"
  if [ "${PERF:-}" = 1 ] && [[ $name == eventide* ]] && command -v perf >/dev/null; then
    perf record -F 999 -g -p "$pids" -o "bin/bench/perf-$case-$run.data" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  if [ "${PPROF:-}" = 1 ] && [ "$name" = eventide ] && [[ $case == cluster-* ]]; then
    curl -fsS -o "bin/bench/pprof-$case-$run.pb.gz" "http://127.0.0.1:$((port + 6))/debug/pprof/profile?seconds=10" &
    pprof_pid=$!
  fi
  # Each run dials from its own block of source addresses, so TIME_WAIT
  # ports left by the previous run are never in the way.
  local src="127.0.$(( (run % 50) * 4 + 1 )).1"
  local rc=0
  # shellcheck disable=SC2086
  "$BENCH_BIN" run --url "$url" --token "$token" --pid "$pids" \
    --server "$name" --case "$case" --source-base "$src" --json-out "$OUT" "${server_flags[@]}" "$@" || rc=$?
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; fi
  if [ -n "$pprof_pid" ]; then wait "$pprof_pid" 2>/dev/null || true; fi
  stop_server
  return $rc
}

if [ "${1:-}" = smoke ]; then
  # CI: seconds long, our server only; fails unless every delivery arrived.
  port=$PORT_BASE
  start_server eventide "$port"
  url="http://127.0.0.1:$port"
  "$BENCH_BIN" smoke --url "$url" --token "$token" --pid "$server_pid" --server eventide --case smoke-fanout
  "$BENCH_BIN" smoke --url "$url" --token "$token" --pid "$server_pid" --server eventide --case smoke-e2e \
    --scenario e2e --rooms 5 --events 10
  stop_server
  # Three nodes on PostgreSQL and a private Redis: every PATCH, made on a
  # random node, reaches the room's clients on all three.
  start_cluster eventide $((PORT_BASE + 10))
  "$BENCH_BIN" smoke --url "$(IFS=,; echo "${node_urls[*]}")" --token "$token" --pid "$(IFS=,; echo "${cluster_pids[*]}")" \
    --server eventide --case smoke-cluster --scenario e2e --clients 60 --rooms 3 --events 10 "${server_flags[@]}"
  echo "bench smoke: ok"
  exit 0
fi

cases=()
for c in "$@"; do
  if [ "$c" = cluster ]; then cases+=("${CLUSTER[@]}"); else cases+=("$c"); fi
done
[ ${#cases[@]} -gt 0 ] || cases=("${ORDER[@]}")
for c in "${cases[@]}"; do
  [ -n "${CASES[$c]:-}" ] || { echo "run.sh: unknown case $c (${ORDER[*]} cluster ${CLUSTER[*]} cluster-hold-50k)" >&2; exit 1; }
done
if [[ " $SERVERS " == *" node "* ]]; then
  command -v node >/dev/null || { echo "run.sh: node is needed for the reference server" >&2; exit 1; }
  if [ ! -f bench/reference/node_modules/.package-lock.json ] ||
     [ bench/reference/package-lock.json -nt bench/reference/node_modules/.package-lock.json ]; then
    (cd bench/reference && npm ci --no-audit --no-fund)
  fi
fi

echo "results: $OUT"
failed=0
for ((run = 1; run <= RUNS; run++)); do
  for c in "${cases[@]}"; do
    i=0
    for s in $SERVERS; do
      if [[ $c == cluster-* && ! " eventide eventide-p1 node " == *" $s "* ]]; then
        echo "== run $run/$RUNS  $c  $s: no cluster of $s, skipped"
        continue
      fi
      echo "== run $run/$RUNS  $c  $s"
      # shellcheck disable=SC2086
      bench_one "$s" $((PORT_BASE + 10 * i)) "$c" "$run" ${CASES[$c]} || failed=$((failed + 1))
      i=$((i + 1))
    done
  done
done

echo
ours=eventide
for s in $SERVERS; do [ "$s" = node ] || { ours=$s; break; }; done
"$BENCH_BIN" compare --ours "$ours" --ref node "$OUT"
echo
if [[ " $SERVERS " == *" eventide-p1 "* && "$ours" != eventide-p1 ]]; then
  echo "Ours with GOMAXPROCS=1 against the reference:"
  "$BENCH_BIN" compare --ours eventide-p1 --ref node "$OUT" | sed -n '/^targets/,$p' | grep -v '^targets'
  echo
fi
if [[ " ${cases[*]} " == *" cluster-e2e "* && " ${cases[*]} " == *" e2e-1000 "* ]]; then
  # The same load (1,000 clients, 10 rooms of 100, 1,000 PATCHes) on three
  # nodes with PostgreSQL and Redis, and on one node with SQLite.
  echo "Three nodes on PostgreSQL + Redis against one node on SQLite ($ours; ratio = cluster / one node):"
  "$BENCH_BIN" compare --ours "$ours" --cases cluster-e2e,e2e-1000 "$OUT"
  echo
fi
if [[ " $SERVERS " == *" eventide "* && " $SERVERS " == *" eventide-pg "* ]]; then
  echo "PostgreSQL against SQLite (ratio = eventide-pg / eventide):"
  "$BENCH_BIN" compare --targets=false --ours eventide-pg --ref eventide "$OUT"
  echo
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GB RAM, $(uname -sr), $(go version 2>/dev/null | cut -d' ' -f3), node $(node --version 2>/dev/null)"
[ "$failed" -eq 0 ] || { echo "run.sh: $failed run(s) incomplete or failed (see above)" >&2; exit 1; }
