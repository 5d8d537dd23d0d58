#!/usr/bin/env bash
# hookwall load benchmark: what verifying costs, on this machine, interleaved over rounds.
#
# Starts on loopback: an upstream (nginx `return 200 "ok\n"`, 1 worker) pinned to LOAD_CPU,
# and two hookwall processes pinned to PROXY_CPU: one with replay = "off", one with
# replay = "on" (memory store). Then, round after round, for each body size, wrk (on
# LOAD_CPU, -t1 -cCONNS --latency) runs against each configuration in turn:
#   direct           wrk -> upstream: the limit of this harness
#   verify           hookwall, replay off, one fixed body + signature (as the peer harness)
#   verify-distinct  hookwall, replay off, distinct signed bodies (the control for `replay`:
#                    same wrk script, so the same load-generator cost)
#   replay           hookwall, replay on, distinct signed bodies (none is a duplicate)
#   reject           hookwall, fixed body with a bad signature: 401, upstream never contacted
# Each run records req/s, p50/p90/p99, non-2xx, socket errors, hookwall CPU µs/request
# (utime+stime of the hookwall process from /proc/PID/stat ÷ requests), hookwall VmRSS after
# the run, requests that reached the upstream (nginx stub_status), hookwall's own outcome
# counters (/metrics), busy % of both cores and the CPU of foreign processes.
# Output: bench/work/results/<stamp>/ raw.csv, summary.md, checks.txt, versions.txt, raw/.
#
# Every server runs under `timeout` (bounded by the plan), every wrk under -d and `timeout`;
# on exit the script stops exactly the PIDs it started.
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
DURATION=${DURATION:-5}           # seconds per measured run
ROUNDS=${ROUNDS:-3}               # interleaved rounds
CONNS=${CONNS:-32}                # wrk connections
SIZES=${SIZES:-"1k 16k"}          # body sizes (k = KiB, m = MiB)
CONFIGS=${CONFIGS:-"direct verify verify-distinct replay reject"}   # any subset, in this order
WARMUP=${WARMUP:-2}               # s of unrecorded load per hookwall configuration, once
PROXY_CPU=${PROXY_CPU:-0}         # core for hookwall
LOAD_CPU=${LOAD_CPU:-1}           # core for wrk + upstream
WRK_THREADS=${WRK_THREADS:-1}     # wrk threads (all on LOAD_CPU)
BASE_PORT=${BASE_PORT:-28180}     # upstream; hookwall +1, replay-on hookwall +2, admin +11/+12
                                  # (below 32768: outside the kernel's ephemeral port range)
DISTINCT_N=${DISTINCT_N:-$((60000 * DURATION + 20000))}   # distinct bodies per run (> requests)
QUIET_WAIT=${QUIET_WAIT:-10}      # before each run wait up to this many s for idle cores ...
QUIET_IDLE=${QUIET_IDLE:-90}      # ... meaning both >= this % idle over 1 s; then run anyway
HOOKWALL_BIN=${HOOKWALL_BIN:-}    # prebuilt binary; unset: cargo build --release
REPLAY_STORE=${REPLAY_STORE:-}    # replay-on hookwall's [replay] store: memory (default) or redis://… (a server you run)
HOOKWALL_LOG_LEVEL=${HOOKWALL_LOG_LEVEL:-}  # --log-level for hookwall; default: as shipped (info)
INSTALL=${INSTALL:-1}             # apt-get install wrk/nginx if missing (root only)
# ---------------------------------------------------------------- end of knobs

source "$BENCH/lib/common.sh"
CLK_TCK=$(getconf CLK_TCK)

ensure_packages
build_hookwall
raise_nofile
(($(nproc) >= 2)) || log "WARNING: fewer than 2 cores: pinning puts everything on one core"
for c in $CONFIGS; do
    [[ " direct verify verify-distinct replay reject " == *" $c "* ]] || die "unknown config: $c"
done

STAMP=$(date +%Y%m%d-%H%M%S)
RES=$BENCH/work/results/$STAMP
RUN=$RES/run
mkdir -p "$RUN"/{conf,logs,payload,lua} "$RES/raw"
ln -sfn "$STAMP" "$BENCH/work/results/latest-load"

UP_PORT=$BASE_PORT
HW_PORT=$((BASE_PORT + 1)) HWR_PORT=$((BASE_PORT + 2))
HW_ADMIN=$((BASE_PORT + 11)) HWR_ADMIN=$((BASE_PORT + 12))
need_free_ports "$UP_PORT" "$HW_PORT" "$HWR_PORT" "$HW_ADMIN" "$HWR_ADMIN"

NCONF=$(wc -w <<<"$CONFIGS")
NSIZES=$(wc -w <<<"$SIZES")
NRUNS=$((ROUNDS * NSIZES * NCONF))
SERVER_TTL=$(((NRUNS + 4) * (DURATION + QUIET_WAIT + 15) + WARMUP * 4 + 300))
log "plan: $NRUNS runs of ${DURATION}s ($CONFIGS × $SIZES × $ROUNDS rounds), ~$((NRUNS * (DURATION + 4) / 60 + 1)) min; servers bounded to ${SERVER_TTL}s; results in ${RES#"$ROOT"/}"
{
    versions
    echo "settings: DURATION=$DURATION ROUNDS=$ROUNDS CONNS=$CONNS WRK_THREADS=$WRK_THREADS SIZES='$SIZES'" \
         "CONFIGS='$CONFIGS' PROXY_CPU=$PROXY_CPU LOAD_CPU=$LOAD_CPU DISTINCT_N=$DISTINCT_N"
} >"$RES/versions.txt"

# ---------------------------------------------------------------- payloads, configs, servers
python3 "$BENCH/lib/payloads.py" fixed "$RUN/payload" $SIZES
python3 "$BENCH/lib/hwconf.py" "$RUN/conf/hookwall.toml" --listen "127.0.0.1:$HW_PORT" \
    --upstream "http://127.0.0.1:$UP_PORT" --replay off --admin "127.0.0.1:$HW_ADMIN" >/dev/null
python3 "$BENCH/lib/hwconf.py" "$RUN/conf/hookwall-replay.toml" --listen "127.0.0.1:$HWR_PORT" \
    --upstream "http://127.0.0.1:$UP_PORT" --replay on --admin "127.0.0.1:$HWR_ADMIN" \
    ${REPLAY_STORE:+--store "$REPLAY_STORE"} >/dev/null

start_upstream "$UP_PORT"
start_hookwall hw "$RUN/conf/hookwall.toml" "$HW_PORT" "$HW_ADMIN"
start_hookwall hw-replay "$RUN/conf/hookwall-replay.toml" "$HWR_PORT" "$HWR_ADMIN"
log "upstream pid ${SPID[upstream]}, hookwall pid ${HPID[hw]} (replay off), ${HPID[hw-replay]} (replay on)"

URL_PATH=/webhooks/github
url_of() {
    case $1 in
        direct) echo "http://127.0.0.1:$UP_PORT$URL_PATH" ;;
        replay) echo "http://127.0.0.1:$HWR_PORT$URL_PATH" ;;
        *) echo "http://127.0.0.1:$HW_PORT$URL_PATH" ;;
    esac
}
hw_of() {
    case $1 in
        direct) echo "" ;;
        replay) echo hw-replay ;;
        *) echo hw ;;
    esac
}

log "checks -> checks.txt"
python3 "$BENCH/lib/check.py" --payloads "$RUN/payload" --sizes "$(tr ' ' , <<<"$SIZES")" \
    --upstream-status "$UP_STATUS" --verify "$(url_of verify)" --replay "$(url_of replay)" \
    | tee "$RES/checks.txt" || die "functional checks failed (checks.txt): not measuring"
: >"${SLOG[hw]}"
: >"${SLOG[hw-replay]}"

# Distinct-body scripts: a fresh counter range for every script, so no body is ever sent twice.
NEXT_BASE=1000000
distinct_lua() {   # size tag -> LUA: path of a new script (not in $(...): NEXT_BASE must stick)
    LUA=$RUN/lua/distinct-$2-$1.lua
    python3 "$BENCH/lib/payloads.py" distinct "$LUA" "$1" "$NEXT_BASE" "$DISTINCT_N" \
        "$WRK_THREADS" "$URL_PATH"
    NEXT_BASE=$((NEXT_BASE + DISTINCT_N))
}
fixed_env() {   # size valid|invalid
    echo "BODY_FILE=$RUN/payload/body-$1.json" "SIGNATURE=$(cat "$RUN/payload/sig-$1.$2")"
}

if ((WARMUP > 0)); then
    first=${SIZES%% *}
    log "warm-up: ${WARMUP}s per hookwall (not recorded)"
    # shellcheck disable=SC2046
    wrk_run "$(url_of verify)" "$BENCH/lib/post.lua" "$CONNS" "$WARMUP" "$RES/raw/warmup-verify.txt" $(fixed_env "$first" valid)
    distinct_lua "$first" warmup
    wrk_run "$(url_of replay)" "$LUA" "$CONNS" "$WARMUP" "$RES/raw/warmup-replay.txt"
    rm -f "$LUA"
    : >"${SLOG[hw]}"
    : >"${SLOG[hw-replay]}"
fi

# ---------------------------------------------------------------- rounds
CSV=$RES/raw.csv
LEAD=round,size,config,conns
python3 "$BENCH/lib/record.py" --header round size config conns >"$CSV"
for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round/$ROUNDS"
    for size in $SIZES; do
        lua=""
        if [[ " $CONFIGS " == *" verify-distinct "* || " $CONFIGS " == *" replay "* ]]; then
            distinct_lua "$size" "r$round"   # one range for both: only hw-replay remembers
            lua=$LUA
        fi
        for cfg in $CONFIGS; do
            raw=$RES/raw/r$round-$size-$cfg.txt
            meta=(round="$round" size="$size" config="$cfg" conns="$CONNS")
            case $cfg in
                direct | verify)
                    # shellcheck disable=SC2046
                    measure "$CSV" "$LEAD" "$(url_of "$cfg")" "$BENCH/lib/post.lua" "$CONNS" "$DURATION" \
                        "$(hw_of "$cfg")" "$raw" -- "${meta[@]}" -- $(fixed_env "$size" valid) || true ;;
                reject)
                    # shellcheck disable=SC2046
                    measure "$CSV" "$LEAD" "$(url_of "$cfg")" "$BENCH/lib/post.lua" "$CONNS" "$DURATION" \
                        "$(hw_of "$cfg")" "$raw" -- "${meta[@]}" -- $(fixed_env "$size" invalid) || true ;;
                verify-distinct | replay)
                    measure "$CSV" "$LEAD" "$(url_of "$cfg")" "$lua" "$CONNS" "$DURATION" \
                        "$(hw_of "$cfg")" "$raw" -- "${meta[@]}" -- || true ;;
            esac
        done
        if [[ -n $lua ]]; then rm -f "$lua"; fi
    done
done

log "stopping servers"
for n in hw hw-replay; do
    echo "$n: VmHWM (peak RSS since start) $(awk '/^VmHWM/ {print $2, $3}' "/proc/${HPID[$n]}/status" 2>/dev/null || echo '?')"
done >>"$RES/versions.txt"
cleanup
for n in hw hw-replay; do
    if grep -qE 'panicked|^hookwall: ' "$RUN/logs/$n.log" 2>/dev/null; then
        grep -E 'panicked|^hookwall: ' "$RUN/logs/$n.log" >>"$RES/hookwall-warnings.txt"
    fi
done

python3 "$BENCH/lib/summarize.py" "$CSV" >"$RES/summary.md"
echo
echo "== ${RES#"$ROOT"/}/summary.md =="
cat "$RES/summary.md"
if [[ -s $RES/hookwall-warnings.txt ]]; then
    echo
    echo "!! hookwall warnings: ${RES#"$ROOT"/}/hookwall-warnings.txt"
fi
echo
echo "charts: python3 bench/plot.py ${RES#"$ROOT"/}"
