#!/usr/bin/env bash
# hookwall spool benchmark: what a durable acknowledgement costs, and how fast a backlog
# drains into a real app.
#
# Part 1, acknowledgements. On loopback: an upstream (nginx `return 200`, 1 worker) on
# LOAD_CPU; hookwall processes on PROXY_CPU, one per configuration:
#   forward       replay off, delivery = "forward" (today's path: the baseline)
#   spool-sqlite  delivery = "spool", [spool] store = SQLite in the run folder
#   spool-redis   delivery = "spool", store = a redis-server of this script's (appendonly
#                 yes, appendfsync always: as durable as SQLite's synchronous = FULL) on
#                 LOAD_CPU
# wrk (-t1 -cCONNS --latency, one fixed signed 1 KiB body) runs against each in turn, round
# after round. The spool routes' app is down (nothing listens on port 9), so a run measures
# the acknowledgement alone, not a drain competing with the next run (after five failures a
# route waits for its next scheduled attempt); the drain is part 2.
#
# Part 2, drain. A backlog of BACKLOG deliveries is spooled (SQLite) while the app is down,
# then hookwall restarts in front of the app: the example Flask app under gunicorn (4 sync
# workers) and nginx, each on LOAD_CPU. Until the spool holds nothing pending: the drain
# rate, and hookwall's CPU over that time. Bytes on disk per delivery are read off the
# spool's files after the backlog is written.
#
# Output: bench/work/results/<stamp>/ raw.csv, drain.csv, summary.md, versions.txt, raw/.
# Every server runs under `timeout`; on exit the script stops exactly the PIDs it started.
set -euo pipefail

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d'
    sed -n '/^# -* knobs/,/^# -* end of knobs/p' "$0"
    exit 0
fi

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
export PYTHONDONTWRITEBYTECODE=1

# ---------------------------------------------------------------- knobs (environment)
DURATION=${DURATION:-5}           # seconds per measured acknowledgement run
ROUNDS=${ROUNDS:-3}               # interleaved rounds
CONNS=${CONNS:-32}                # wrk connections
SIZE=${SIZE:-1k}                  # body size
CONFIGS=${CONFIGS:-"forward spool-sqlite spool-redis"}
BACKLOG=${BACKLOG:-100000}        # deliveries in the drain backlog (0: skip part 2)
DRAIN_TO=${DRAIN_TO:-"gunicorn nginx"}
DRAIN_IN_FLIGHT=${DRAIN_IN_FLIGHT:-4}   # the route's max_in_flight while draining
WARMUP=${WARMUP:-2}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BASE_PORT=${BASE_PORT:-28380}     # upstream; hookwalls +1..+3 (admin +11..+13); redis +20;
                                  # gunicorn +21; drain hookwall +4 (admin +14)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}   # a Python with flask and gunicorn
HOOKWALL_BIN=${HOOKWALL_BIN:-}
INSTALL=${INSTALL:-1}
# ---------------------------------------------------------------- end of knobs

source "$BENCH/lib/common.sh"
CLK_TCK=$(getconf CLK_TCK)
ensure_packages
build_hookwall
raise_nofile

STAMP=$(date +%Y%m%d-%H%M%S)
RES=$BENCH/work/results/$STAMP
RUN=$RES/run
mkdir -p "$RUN"/{conf,logs,payload,data} "$RES/raw"
ln -sfn "$STAMP" "$BENCH/work/results/latest-spool"
SERVER_TTL=$((ROUNDS * 3 * (DURATION + 30) + 1800))

UP_PORT=$BASE_PORT REDIS_PORT=$((BASE_PORT + 20)) GUNI_PORT=$((BASE_PORT + 21))
declare -A PORT=([forward]=$((BASE_PORT + 1)) [spool-sqlite]=$((BASE_PORT + 2))
                 [spool-redis]=$((BASE_PORT + 3)) [drain]=$((BASE_PORT + 4)))
need_free_ports "$UP_PORT" "$REDIS_PORT" "$GUNI_PORT" "${PORT[@]}"
{
    versions
    redis-server --version 2>/dev/null || echo "redis-server: not found"
    echo "settings: DURATION=$DURATION ROUNDS=$ROUNDS CONNS=$CONNS SIZE=$SIZE CONFIGS='$CONFIGS'" \
         "BACKLOG=$BACKLOG DRAIN_TO='$DRAIN_TO' DRAIN_IN_FLIGHT=$DRAIN_IN_FLIGHT"
} >"$RES/versions.txt"

python3 "$BENCH/lib/payloads.py" fixed "$RUN/payload" "$SIZE"
fixed_env() { echo "BODY_FILE=$RUN/payload/body-$SIZE.json" "SIGNATURE=$(cat "$RUN/payload/sig-$SIZE.valid")"; }

start_redis() {
    command -v redis-server >/dev/null || { log "no redis-server: spool-redis skipped"; return 1; }
    mkdir -p "$RUN/data/redis"
    start_server redis "$LOAD_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
        --dir "$RUN/data/redis" --save "" --appendonly yes --appendfsync always
    wait_port redis "$REDIS_PORT"
}

hookwall_conf() {   # name port admin upstream store [extra hwconf args]
    local name=$1 port=$2 admin=$3 upstream=$4 store=$5
    shift 5
    local args=(--listen "127.0.0.1:$port" --upstream "$upstream" --replay off --admin "127.0.0.1:$admin")
    [[ -n $store ]] && args+=(--delivery spool --spool-store "$store" --spool-max 10000000)
    python3 "$BENCH/lib/hwconf.py" "$RUN/conf/$name.toml" "${args[@]}" "$@" >/dev/null
}

# ---------------------------------------------------------------- part 1: acknowledgements
start_upstream "$UP_PORT"
for cfg in $CONFIGS; do
    port=${PORT[$cfg]} admin=$((PORT[$cfg] + 10))
    case $cfg in
        forward) store= ;;
        spool-sqlite) store=sqlite:$RUN/data/ack.db ;;
        spool-redis) start_redis || continue; store=redis://127.0.0.1:$REDIS_PORT/0 ;;
        *) die "unknown config: $cfg" ;;
    esac
    app=http://127.0.0.1:$UP_PORT
    [[ -n $store ]] && app=http://127.0.0.1:9
    hookwall_conf "$cfg" "$port" "$admin" "$app" "$store"
    start_hookwall "$cfg" "$RUN/conf/$cfg.toml" "$port" "$admin"
done
url_of() { echo "http://127.0.0.1:${PORT[$1]}/webhooks/github"; }

CSV=$RES/raw.csv
LEAD=round,size,config,conns
python3 "$BENCH/lib/record.py" --header round size config conns >"$CSV"
for cfg in "${!HPID[@]}"; do
    # shellcheck disable=SC2046
    wrk_run "$(url_of "$cfg")" "$BENCH/lib/post.lua" "$CONNS" "$WARMUP" "$RES/raw/warmup-$cfg.txt" $(fixed_env)
    : >"${SLOG[$cfg]}"
done
for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round/$ROUNDS"
    for cfg in $CONFIGS; do
        [[ -n ${HPID[$cfg]:-} ]] || continue
        # shellcheck disable=SC2046
        measure "$CSV" "$LEAD" "$(url_of "$cfg")" "$BENCH/lib/post.lua" "$CONNS" "$DURATION" \
            "$cfg" "$RES/raw/r$round-$cfg.txt" -- round="$round" size="$SIZE" config="$cfg" \
            conns="$CONNS" -- $(fixed_env) || true
    done
done
for cfg in "${!HPID[@]}"; do
    echo "$cfg: VmHWM $(awk '/^VmHWM/ {print $2, $3}' "/proc/${HPID[$cfg]}/status")" >>"$RES/versions.txt"
    stop_server "$cfg"
done
stop_server redis

# ---------------------------------------------------------------- part 2: drain
pending() {   # pending + in-flight deliveries, from the admin /metrics
    python3 - "$1" <<'EOF'
import sys, urllib.request
text = urllib.request.urlopen(f"http://{sys.argv[1]}/metrics", timeout=5).read().decode()
n = 0
for line in text.splitlines():
    if line.startswith("hookwall_spool_deliveries{") and ('state="pending"' in line or 'state="in_flight"' in line):
        n += int(float(line.rsplit(" ", 1)[1]))
print(n)
EOF
}
ticks_of() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

fill_backlog() {   # db: BACKLOG deliveries spooled while nothing listens upstream
    hookwall_conf fill "${PORT[drain]}" $((PORT[drain] + 10)) "http://127.0.0.1:9" "sqlite:$1" \
        --max-in-flight 1
    start_hookwall fill "$RUN/conf/fill.toml" "${PORT[drain]}" $((PORT[drain] + 10))
    local per=$(((BACKLOG + CONNS - 1) / CONNS))
    python3 "$BENCH/lib/payloads.py" distinct "$RUN/fill.lua" "$SIZE" 1 "$((per * CONNS))" 1 /webhooks/github
    # Each connection sends its share and stops: exactly BACKLOG (rounded up) requests.
    env timeout -k 5 600 taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d600s --timeout 10s \
        -s "$RUN/fill.lua" "$(url_of drain)" >"$RES/raw/fill.txt" 2>&1 &
    local wrk=$! n=0
    until (($(pending "${ADMIN[fill]}") >= BACKLOG)); do
        kill -0 "$wrk" 2>/dev/null || break
        sleep 0.5
    done
    kill "$wrk" 2>/dev/null || true
    wait "$wrk" 2>/dev/null || true
    n=$(pending "${ADMIN[fill]}")
    stop_server fill
    # Everything in the database file (the log checkpointed into it and cut), then its size.
    python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA wal_checkpoint(TRUNCATE)")' "$1"
    local bytes
    bytes=$(du -cb "$1"* | tail -n1 | cut -f1)
    log "backlog: $n deliveries; on disk $bytes bytes"
    echo "$n $bytes"
}

start_app() {   # kind -> APP_URL
    case $1 in
        nginx) APP_URL=http://127.0.0.1:$UP_PORT; start_upstream "$UP_PORT" ;;
        gunicorn)
            [[ -x $PYTHON ]] || die "no $PYTHON (python3 -m venv .venv && .venv/bin/pip install -r examples/requirements.txt)"
            start_server app "$LOAD_CPU" "$(dirname "$PYTHON")/gunicorn" --workers 4 \
                --bind "127.0.0.1:$GUNI_PORT" --chdir "$ROOT/examples" --log-level warning flask_app:app
            wait_port app "$GUNI_PORT" || die "gunicorn did not start"
            APP_URL=http://127.0.0.1:$GUNI_PORT ;;
    esac
}

DRAIN=$RES/drain.csv
echo "app,max_in_flight,deliveries,bytes_on_disk,bytes_per_delivery,seconds,deliveries_per_s,hookwall_cpu_s,hookwall_cpu_pct,hookwall_cpu_us_per_delivery" >"$DRAIN"
if ((BACKLOG > 0)); then
    stop_server upstream
    for app in $DRAIN_TO; do
        db=$RUN/data/drain-$app.db
        read -r n bytes < <(fill_backlog "$db")
        start_app "$app"
        hookwall_conf drain "${PORT[drain]}" $((PORT[drain] + 10)) "$APP_URL" "sqlite:$db" \
            --max-in-flight "$DRAIN_IN_FLIGHT"
        t0=$(date +%s.%N)
        start_hookwall drain "$RUN/conf/drain.toml" "${PORT[drain]}" $((PORT[drain] + 10))
        c0=$(ticks_of "${HPID[drain]}")
        left=$n
        while ((left > 0)); do sleep 0.2; left=$(pending "${ADMIN[drain]}"); done
        t1=$(date +%s.%N)
        c1=$(ticks_of "${HPID[drain]}")
        stop_server drain
        stop_server app || true
        stop_server upstream || true
        python3 - "$app" "$DRAIN_IN_FLIGHT" "$n" "$bytes" "$t0" "$t1" "$c0" "$c1" "$CLK_TCK" >>"$DRAIN" <<'EOF'
import sys
app, mif, n, b, t0, t1, c0, c1, hz = sys.argv[1:]
n, b, secs, cpu = int(n), int(b), float(t1) - float(t0), (int(c1) - int(c0)) / int(hz)
print(f"{app},{mif},{n},{b},{b / n:.0f},{secs:.1f},{n / secs:.0f},{cpu:.1f},{100 * cpu / secs:.0f},{1e6 * cpu / n:.0f}")
EOF
        log "drain into $app: $(tail -n1 "$DRAIN")"
    done
fi

if (($(wc -l <"$CSV") > 1)); then
    python3 "$BENCH/lib/summarize.py" "$CSV" >"$RES/summary.md"
else
    : >"$RES/summary.md"
fi
{
    echo
    echo "## Drain"
    echo
    python3 - "$DRAIN" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("| app | max_in_flight | backlog | drain s | deliveries/s | hookwall CPU % | CPU µs/delivery | bytes/delivery on disk |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['app']} | {r['max_in_flight']} | {r['deliveries']} | {r['seconds']} | {r['deliveries_per_s']} | {r['hookwall_cpu_pct']} | {r['hookwall_cpu_us_per_delivery']} | {r['bytes_per_delivery']} |")
EOF
} >>"$RES/summary.md"
echo
echo "== ${RES#"$ROOT"/}/summary.md =="
cat "$RES/summary.md"
