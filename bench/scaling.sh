#!/usr/bin/env bash
# hookwall cost curves: how req/s, latency, CPU per request and memory move with one factor
# at a time, each point a short bounded run (hookwall restarted fresh for every point).
#
#   size     body size (SCALE_SIZES), max_body raised to fit; 1 route, CONNS connections
#   routes   number of routes in the config (SCALE_ROUTES; generated, all GitHub; the
#            request hits the one in the middle); 1 KiB body, CONNS connections
#   conns    concurrent connections (SCALE_CONNS; ulimit -n raised); 1 KiB body, 1 route
#   memory   idle RSS (hookwall started, no load), then MEM_CONNS connections each posting
#            its own signed MEM_SIZE body, all in flight at once (lib/manyconn.py, Python
#            asyncio): peak VmRSS sampled every 20 ms and VmHWM, against max_body × connections
# The size and conns curves also run `direct` (wrk -> upstream) at each point: the harness
# limit. hookwall runs with replay = "off" (fixed body, as the peer harness) except in the
# memory scenario (distinct bodies, replay as shipped: on). Same pinning as load.sh.
# Output: bench/work/results/<stamp>-scaling/ scaling.csv, memory.csv, memory-timeline.csv,
# summary.md, versions.txt, raw/.
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
CURVES=${CURVES:-"size routes conns memory"}   # any subset
DURATION=${DURATION:-5}           # seconds per point
ROUNDS=${ROUNDS:-1}               # repeat every curve this often (interleaved)
CONNS=${CONNS:-32}                # connections for the size and routes curves
SCALE_SIZES=${SCALE_SIZES:-"1k 16k 64k 256k 1m"}
SCALE_ROUTES=${SCALE_ROUTES:-"1 100 10000"}
SCALE_CONNS=${SCALE_CONNS:-"32 256 1024 4096"}
DIRECT=${DIRECT:-1}               # also run direct-to-upstream at each size / conns point
WARMUP=${WARMUP:-1}               # s of unrecorded load before each hookwall point
MEM_CONNS=${MEM_CONNS:-1000}      # memory scenario: connections ...
MEM_SIZE=${MEM_SIZE:-1m}          # ... each with a body of this size (max_body = 1MiB or this)
MEM_HOLD=${MEM_HOLD:-2}           # ... held this many s with the last byte unsent
PROXY_CPU=${PROXY_CPU:-0}         # core for hookwall
LOAD_CPU=${LOAD_CPU:-1}           # core for wrk + upstream (+ the memory client)
WRK_THREADS=${WRK_THREADS:-1}
WRK_TIMEOUT=${WRK_TIMEOUT:-10s}   # wrk's per-request timeout (counted as socket errors)
BASE_PORT=${BASE_PORT:-28280}     # upstream; hookwall +1, its admin +11
QUIET_WAIT=${QUIET_WAIT:-5}       # before each point wait up to this many s for idle cores
QUIET_IDLE=${QUIET_IDLE:-90}
HOOKWALL_BIN=${HOOKWALL_BIN:-}    # prebuilt binary; unset: cargo build --release
HOOKWALL_LOG_LEVEL=${HOOKWALL_LOG_LEVEL:-}
INSTALL=${INSTALL:-1}
# ---------------------------------------------------------------- end of knobs

source "$BENCH/lib/common.sh"
CLK_TCK=$(getconf CLK_TCK)

ensure_packages
build_hookwall
raise_nofile 65536
log "open files limit: $(ulimit -n)"
for c in $CURVES; do
    [[ " size routes conns memory " == *" $c "* ]] || die "unknown curve: $c"
done
maxc=0
for c in $SCALE_CONNS; do ((c > maxc)) && maxc=$c; done
if [[ " $CURVES " == *" conns "* ]] && (($(ulimit -n) < 2 * maxc + 100)); then
    die "ulimit -n $(ulimit -n) is too low for $maxc connections (hookwall holds 2 per request)"
fi

STAMP=$(date +%Y%m%d-%H%M%S)-scaling
RES=$BENCH/work/results/$STAMP
RUN=$RES/run
mkdir -p "$RUN"/{conf,logs,payload} "$RES/raw"
ln -sfn "$STAMP" "$BENCH/work/results/latest-scaling"

UP_PORT=$BASE_PORT HW_PORT=$((BASE_PORT + 1)) HW_ADMIN=$((BASE_PORT + 11))
need_free_ports "$UP_PORT" "$HW_PORT" "$HW_ADMIN"

bytes_of() { python3 -c "import sys; sys.path.insert(0, '$BENCH/lib'); from payloads import parse_size; print(parse_size('$1'))"; }
npoints=0
for c in $CURVES; do
    case $c in
        size) npoints=$((npoints + $(wc -w <<<"$SCALE_SIZES") * (1 + DIRECT))) ;;
        routes) npoints=$((npoints + $(wc -w <<<"$SCALE_ROUTES"))) ;;
        conns) npoints=$((npoints + $(wc -w <<<"$SCALE_CONNS") * (1 + DIRECT))) ;;
    esac
done
npoints=$((npoints * ROUNDS))
SERVER_TTL=$((npoints * (DURATION + WARMUP + QUIET_WAIT + 20) + 900))
log "plan: curves '$CURVES', $npoints points of ${DURATION}s, ~$((npoints * (DURATION + WARMUP + 4) / 60 + 1)) min + memory; servers bounded to ${SERVER_TTL}s; results in ${RES#"$ROOT"/}"
{
    versions
    echo "settings: CURVES='$CURVES' DURATION=$DURATION ROUNDS=$ROUNDS CONNS=$CONNS SCALE_SIZES='$SCALE_SIZES'" \
         "SCALE_ROUTES='$SCALE_ROUTES' SCALE_CONNS='$SCALE_CONNS' DIRECT=$DIRECT WARMUP=$WARMUP" \
         "MEM_CONNS=$MEM_CONNS MEM_SIZE=$MEM_SIZE MEM_HOLD=$MEM_HOLD WRK_TIMEOUT=$WRK_TIMEOUT" \
         "PROXY_CPU=$PROXY_CPU LOAD_CPU=$LOAD_CPU ulimit-n=$(ulimit -n)"
} >"$RES/versions.txt"

all_sizes=$(printf '%s\n' 1k $SCALE_SIZES | awk '!seen[$0]++' | tr '\n' ' ')
python3 "$BENCH/lib/payloads.py" fixed "$RUN/payload" $all_sizes
start_upstream "$UP_PORT"

CSV=$RES/scaling.csv
LEAD=curve,x,round,size,config,conns,routes,max_body,idle_rss_kb
python3 "$BENCH/lib/record.py" --header curve x round size config conns routes max_body idle_rss_kb >"$CSV"

# hookwall_up routes max_body replay [extra hwconf args...] -> HW_PATH, IDLE_RSS; hookwall running
hookwall_up() {
    local routes=$1 max_body=$2 replay=$3
    shift 3
    HW_PATH=$(python3 "$BENCH/lib/hwconf.py" "$RUN/conf/hookwall.toml" --listen "127.0.0.1:$HW_PORT" \
        --upstream "http://127.0.0.1:$UP_PORT" --routes "$routes" --max-body "$max_body" \
        --replay "$replay" --admin "127.0.0.1:$HW_ADMIN" "$@")
    start_hookwall hw "$RUN/conf/hookwall.toml" "$HW_PORT" "$HW_ADMIN"
    sleep 1
    IDLE_RSS=$(awk '/^VmRSS/ {print $2}' "/proc/${HPID[hw]}/status")
}

# point curve x round size conns routes config
point() {
    local curve=$1 x=$2 round=$3 size=$4 conns=$5 routes=$6 cfg=$7 mb url hw="" idle=""
    local raw=$RES/raw/$curve-$x-r$round-$cfg.txt body sig
    body=$RUN/payload/body-$size.json
    sig=$(cat "$RUN/payload/sig-$size.valid")
    mb=$(bytes_of "$size")
    ((mb < 1048576)) && mb=1048576
    wait_quiet
    if [[ $cfg == direct ]]; then
        url=http://127.0.0.1:$UP_PORT/webhooks/github
        mb=""
    else
        hookwall_up "$routes" "$mb" off
        url=http://127.0.0.1:$HW_PORT$HW_PATH
        hw=hw
        idle=$IDLE_RSS
        if ((WARMUP > 0)); then
            wrk_run "$url" "$BENCH/lib/post.lua" "$conns" "$WARMUP" "$raw.warmup" \
                BODY_FILE="$body" SIGNATURE="$sig"
            : >"${SLOG[hw]}"
        fi
    fi
    SKIP_QUIET=1 measure "$CSV" "$LEAD" "$url" "$BENCH/lib/post.lua" "$conns" "$DURATION" "$hw" "$raw" -- \
        curve="$curve" x="$x" round="$round" size="$size" config="$cfg" conns="$conns" \
        routes="$routes" max_body="$mb" idle_rss_kb="$idle" -- BODY_FILE="$body" SIGNATURE="$sig" || true
    [[ -n $hw ]] && stop_server hw
    return 0
}

for ((round = 1; round <= ROUNDS; round++)); do
    for curve in $CURVES; do
        case $curve in
            size)
                log "round $round: body size ($SCALE_SIZES), $CONNS connections"
                for s in $SCALE_SIZES; do
                    ((DIRECT)) && point size "$s" "$round" "$s" "$CONNS" 1 direct
                    point size "$s" "$round" "$s" "$CONNS" 1 hookwall
                done ;;
            routes)
                log "round $round: routes ($SCALE_ROUTES), 1k, $CONNS connections"
                for n in $SCALE_ROUTES; do point routes "$n" "$round" 1k "$CONNS" "$n" hookwall; done ;;
            conns)
                log "round $round: connections ($SCALE_CONNS), 1k"
                for c in $SCALE_CONNS; do
                    ((DIRECT)) && point conns "$c" "$round" 1k "$c" 1 direct
                    point conns "$c" "$round" 1k "$c" 1 hookwall
                done ;;
        esac
    done
done

# ---------------------------------------------------------------- memory
if [[ " $CURVES " == *" memory "* ]]; then
    MEM=$RES/memory.csv
    echo "scenario,conns,body_bytes,max_body_bytes,expected_kb,rss_idle_kb,rss_before_kb,peak_send_kb,peak_hold_kb,rss_hold_end_kb,peak_finish_kb,peak_rss_kb,hwm_kb,rss_after_kb,peak_over_expected,ok,statuses,t_all_sent_s,t_done_s" >"$MEM"
    mem_bytes=$(bytes_of "$MEM_SIZE")
    mb=$((mem_bytes < 1048576 ? 1048576 : mem_bytes))
    log "memory: idle, then $MEM_CONNS connections × $MEM_SIZE bodies at once (max_body $mb bytes, replay on)"
    hookwall_up 1 "$mb" default --body-timeout 120s
    idle=$IDLE_RSS
    echo "idle,0,0,$mb,0,$idle,$idle,,,,,$idle,$(awk '/^VmHWM/ {print $2}' "/proc/${HPID[hw]}/status"),$idle,,,,," >>"$MEM"
    log "  idle RSS: $((idle / 1024)) MiB ($idle kB)"
    out=$(timeout -k 5 600 taskset -c "$LOAD_CPU" python3 "$BENCH/lib/manyconn.py" --port "$HW_PORT" \
        --path "$HW_PATH" --conns "$MEM_CONNS" --size "$MEM_SIZE" --pid "${HPID[hw]}" --hold "$MEM_HOLD" \
        --timeline "$RES/memory-timeline.csv" 2>"$RES/raw/manyconn.err") || log "  manyconn failed: see raw/manyconn.err"
    echo "$out" >"$RES/raw/manyconn.txt"
    log "  $out"
    kill -0 "${HPID[hw]}" 2>/dev/null || log "  !! hookwall died during the memory scenario: see run/logs/hw.log"
    if [[ -n $out ]]; then
        python3 - "$out" "$mb" "$idle" >>"$MEM" <<'EOF'
import sys
kv = dict(x.split("=", 1) for x in sys.argv[1].split())
mb, idle = int(sys.argv[2]), int(sys.argv[3])
conns = int(kv["conns"])
expected = mb * conns // 1024
peak = int(kv["peak_rss_kb"])
print(",".join(str(x) for x in [
    f"{conns}x{kv['body_bytes']}B", conns, kv["body_bytes"], mb, expected, idle,
    kv["rss_before_kb"], kv["peak_send_kb"], kv["peak_hold_kb"], kv["rss_hold_end_kb"],
    kv["peak_finish_kb"], peak, kv["hwm_kb"], kv["rss_after_kb"], f"{peak / expected:.2f}",
    kv["ok"], kv["statuses"], kv["t_all_sent_s"], kv["t_done_s"]]))
EOF
    fi
    warn=$(grep -cE '^[^ ]+ +(WARN|ERROR) ' "${SLOG[hw]}" || true)
    if ((warn > 0)); then
        { echo "== memory scenario: $warn WARN/ERROR lines (first 20)"
          grep -E '^[^ ]+ +(WARN|ERROR) ' "${SLOG[hw]}" | head -n 20; } >>"$RES/hookwall-warnings.txt"
    fi
    if grep -qE 'panicked|^hookwall: ' "${SLOG[hw]}"; then
        grep -E 'panicked|^hookwall: ' "${SLOG[hw]}" >>"$RES/hookwall-warnings.txt"
    fi
    stop_server hw
fi

cleanup
python3 "$BENCH/lib/summarize_scaling.py" "$RES" >"$RES/summary.md"
echo
echo "== ${RES#"$ROOT"/}/summary.md =="
cat "$RES/summary.md"
if [[ -s $RES/hookwall-warnings.txt ]]; then
    echo
    echo "!! hookwall warnings: ${RES#"$ROOT"/}/hookwall-warnings.txt"
fi
echo
echo "charts: python3 bench/plot.py ${RES#"$ROOT"/}"
