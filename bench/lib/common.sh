# shellcheck shell=bash
# Shared by bench/load.sh and bench/scaling.sh (sourced, not run). Expects set -euo pipefail,
# BENCH (bench/), ROOT (project root) and the knobs below already set by the caller.
#
# Process discipline: every server starts under `timeout` (SERVER_TTL) and `taskset`; its
# `timeout` PID goes into ALL_PIDS; cleanup (EXIT trap) stops exactly those PIDs, TERM then
# KILL. Nothing is ever killed by name.

: "${PROXY_CPU:=0}" "${LOAD_CPU:=1}" "${INSTALL:=1}" "${QUIET_WAIT:=10}" "${QUIET_IDLE:=90}"
: "${WRK_THREADS:=1}" "${WRK_TIMEOUT:=5s}" "${HOOKWALL_LOG_LEVEL:=}"
export GITHUB_WEBHOOK_SECRET=${GITHUB_WEBHOOK_SECRET:-hookwall-bench-secret-not-for-production}

declare -A SPID=()   # server name -> PID of its `timeout` wrapper
declare -A HPID=()   # hookwall name -> PID of the hookwall process itself (child of timeout)
declare -A ADMIN=()  # hookwall name -> admin listener host:port
declare -A SLOG=()   # server name -> log file
ALL_PIDS=()

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

stop_pid() {   # TERM (timeout forwards it to the server), KILL after 5 s
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${ALL_PIDS[@]}"; do stop_pid "$pid"; done
    ALL_PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_packages() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v nginx >/dev/null || missing+=(nginx)
    command -v taskset >/dev/null || missing+=(util-linux)
    command -v python3 >/dev/null || missing+=(python3)
    ((${#missing[@]} == 0)) && return 0
    if [[ $INSTALL == 1 && $(id -u) == 0 ]]; then
        log "installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    else
        die "missing: ${missing[*]} (run as root with INSTALL=1, or apt-get install them)"
    fi
}

build_hookwall() {   # -> HOOKWALL_BIN (absolute)
    if [[ -n ${HOOKWALL_BIN:-} ]]; then
        [[ $HOOKWALL_BIN == /* ]] || HOOKWALL_BIN=$ROOT/$HOOKWALL_BIN
    else
        log "cargo build --release"
        (cd "$ROOT" && timeout 1800 cargo build --release --quiet) || die "cargo build failed"
        HOOKWALL_BIN=$ROOT/target/release/hookwall
    fi
    [[ -x $HOOKWALL_BIN ]] || die "not an executable: $HOOKWALL_BIN"
}

raise_nofile() {   # as many descriptors as allowed: thousands of connections per process
    local want=${1:-65536} hard
    hard=$(ulimit -Hn)
    [[ $hard == unlimited ]] && hard=$want
    ulimit -n "$((want < hard ? want : hard))" 2>/dev/null || true
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
need_free_ports() {
    local p
    for p in "$@"; do port_open "$p" && die "port $p already in use (set BASE_PORT)"; done
    return 0
}

start_server() {   # name cpu cmd...: under timeout + taskset, output appended to its log
    local name=$1 cpu=$2
    shift 2
    SLOG[$name]=$RUN/logs/$name.log
    timeout -k 5 "$SERVER_TTL" taskset -c "$cpu" "$@" >>"${SLOG[$name]}" 2>&1 &
    SPID[$name]=$!
    ALL_PIDS+=($!)
}
stop_server() {
    local name=$1 pid=${SPID[$1]:-} p keep=()
    [[ -n $pid ]] || return 0
    stop_pid "$pid"
    for p in "${ALL_PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    ALL_PIDS=("${keep[@]}")
    unset "SPID[$name]" "HPID[$name]" "ADMIN[$name]"
}
wait_port() {   # name port: up to 30 s, fail early if the server died
    local i
    for ((i = 0; i < 300; i++)); do
        port_open "$2" && return 0
        kill -0 "${SPID[$1]}" 2>/dev/null || break
        sleep 0.1
    done
    log "$1 did not come up on port $2; log tail:"
    tail -n 20 "${SLOG[$1]}" >&2 || true
    return 1
}
child_of() {   # PID of the one child of $1 (taskset execs the server, so: the server)
    local pid=$1 c i
    for ((i = 0; i < 50; i++)); do
        c=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null || true)
        [[ -z $c ]] && c=$(ps -o pid= --ppid "$pid" 2>/dev/null || true)
        c=${c%% *}
        c=${c//[[:space:]]/}
        [[ -n $c ]] && { echo "$c"; return 0; }
        sleep 0.1
    done
    return 1
}

write_upstream_conf() {   # file port: nginx `return 200 "ok\n"`, 1 worker, stub_status
    local nofile
    nofile=$(ulimit -n)
    [[ $nofile == unlimited ]] && nofile=65536
    mkdir -p "$RUN/tmp/upstream"
    cat >"$1" <<EOF
# Stand-in for the app behind hookwall (as ../shared/bench/conf/upstream.nginx.conf), plus
# stub_status to count what reached it, and room for thousands of connections.
worker_processes 1;
worker_rlimit_nofile $nofile;
daemon off;
pid $RUN/upstream.pid;
error_log $RUN/logs/upstream.error.log warn;
events { worker_connections $((nofile > 20100 ? 20000 : nofile - 100)); }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path $RUN/tmp/upstream/client_body;
    proxy_temp_path $RUN/tmp/upstream/proxy;
    fastcgi_temp_path $RUN/tmp/upstream/fastcgi;
    uwsgi_temp_path $RUN/tmp/upstream/uwsgi;
    scgi_temp_path $RUN/tmp/upstream/scgi;
    server {
        listen 127.0.0.1:$2 backlog=4096;
        client_max_body_size 0;
        client_body_buffer_size 1m;
        location = /__status { stub_status; }
        location / {
            default_type text/plain;
            return 200 "ok\n";
        }
    }
}
EOF
}
start_upstream() {   # port
    write_upstream_conf "$RUN/conf/upstream.conf" "$1"
    nginx -q -t -c "$RUN/conf/upstream.conf" -e stderr 2>/dev/null || die "upstream nginx config"
    start_server upstream "$LOAD_CPU" nginx -c "$RUN/conf/upstream.conf" -e stderr
    wait_port upstream "$1" || die "upstream did not start"
    UP_STATUS=http://127.0.0.1:$1/__status
}
start_hookwall() {   # name config port admin_port: pinned to PROXY_CPU
    local name=$1 conf=$2 port=$3 admin=$4 args=()
    [[ -n $HOOKWALL_LOG_LEVEL ]] && args+=(--log-level "$HOOKWALL_LOG_LEVEL")
    timeout 30 "$HOOKWALL_BIN" check --config "$conf" >"$RUN/logs/$name.check" 2>&1 ||
        { cat "$RUN/logs/$name.check" >&2; die "hookwall check $conf failed"; }
    start_server "$name" "$PROXY_CPU" "$HOOKWALL_BIN" --config "$conf" "${args[@]}"
    wait_port "$name" "$port" || die "$name did not start"
    HPID[$name]=$(child_of "${SPID[$name]}") || die "$name: no child process under timeout"
    [[ $(cat "/proc/${HPID[$name]}/comm") == hookwall ]] ||
        die "$name: child ${HPID[$name]} is $(cat "/proc/${HPID[$name]}/comm"), not hookwall"
    ADMIN[$name]=127.0.0.1:$admin
}

core_busy_pct() {   # busy % of both cores over 1 s
    local a b
    a=$(awk -v p="cpu$PROXY_CPU" -v l="cpu$LOAD_CPU" '$1 == p || $1 == l { for (i = 2; i <= 9; i++) t += $i; idle += $5 + $6 } END { print t, idle }' /proc/stat)
    sleep 1
    b=$(awk -v p="cpu$PROXY_CPU" -v l="cpu$LOAD_CPU" '$1 == p || $1 == l { for (i = 2; i <= 9; i++) t += $i; idle += $5 + $6 } END { print t, idle }' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x); split(b, y); t = y[1] - x[1]; i = y[2] - x[2]; printf "%d\n", (t > 0 ? 100 * (t - i) / t : 0) }'
}
wait_quiet() {   # until both cores are >= QUIET_IDLE % idle over 1 s, at most QUIET_WAIT s
    local i busy=0
    for ((i = 0; i < QUIET_WAIT; i++)); do
        busy=$(core_busy_pct)
        ((busy <= 100 - QUIET_IDLE)) && return 0
    done
    ((QUIET_WAIT > 0)) && log "  not quiet after ${QUIET_WAIT}s (${busy}% busy without our load): measuring anyway"
    return 0
}
child_ticks() {   # -> CHILD_TICKS: CPU ticks of this shell's reaped children (`times`)
    # `times` must run in this shell, not in $(...): a subshell has its own, empty count.
    times >"$RUN/times"
    CHILD_TICKS=$(awk -v hz="$CLK_TCK" 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); t += a[1] * 60 + a[2] }; printf "%d\n", t * hz }' "$RUN/times")
}

wrk_run() {   # url script conns seconds outfile [VAR=value...]: wrk on LOAD_CPU, bounded
    local url=$1 script=$2 conns=$3 secs=$4 out=$5
    shift 5
    env "$@" timeout -k 5 $((secs + 60)) taskset -c "$LOAD_CPU" \
        wrk -t"$WRK_THREADS" -c"$conns" -d"$secs"s --timeout "$WRK_TIMEOUT" --latency \
        -s "$script" "$url" >"$out" 2>&1 || log "  wrk exited with $? (see $out)"
}

probe() {   # hookwall-name-or-empty -> one probe.py line
    local hw=$1 known=() n args=(--cpus "$PROXY_CPU,$LOAD_CPU" --upstream-status "$UP_STATUS")
    for n in "${!SPID[@]}"; do [[ $n == "$hw" ]] || known+=("${SPID[$n]}"); done
    if [[ -n $hw ]]; then
        args+=(--pid "${HPID[$hw]}" --admin "${ADMIN[$hw]}" --log "${SLOG[$hw]}")
    fi
    python3 "$BENCH/lib/probe.py" "${args[@]}" --known "${known[@]}"
}

# measure CSV LEAD URL SCRIPT CONNS SECONDS HW RAWFILE -- key=value... -- VAR=value...
#   One recorded run: probe, wrk, probe, one CSV row (record.py) appended to CSV and echoed.
#   LEAD: comma-separated leading column names (values among the key=value pairs);
#   HW: the hookwall server measured ("" for direct); VAR=value: environment for wrk's script.
measure() {
    local csv=$1 lead=$2 url=$3 script=$4 conns=$5 secs=$6 hw=$7 raw=$8
    shift 8
    local meta=() envs=() before after w0 w1 line warn=0 row
    [[ $1 == -- ]] && shift
    while (($#)) && [[ $1 != -- ]]; do meta+=("$1"); shift; done
    (($#)) && shift
    envs=("$@")
    # The caller may have waited already (scaling.sh: before its warm-up, so that warm-up and
    # run follow each other before hookwall's upstream pool drops idle connections, 1.5 s).
    [[ ${SKIP_QUIET:-0} == 1 ]] || wait_quiet
    before=$(probe "$hw")
    child_ticks
    w0=$CHILD_TICKS
    wrk_run "$url" "$script" "$conns" "$secs" "$raw" "${envs[@]}"
    child_ticks
    w1=$CHILD_TICKS
    after=$(probe "$hw")
    if [[ -n $hw ]]; then
        kill -0 "${HPID[$hw]}" 2>/dev/null || log "  !! $hw (pid ${HPID[$hw]}) is gone: see ${SLOG[$hw]}"
        warn=$(grep -cE '^[^ ]+ +(WARN|ERROR) ' "${SLOG[$hw]}" || true)
        if ((warn > 0)); then
            { echo "== $hw ${meta[*]}: $warn WARN/ERROR lines (first 20)"
              grep -E '^[^ ]+ +(WARN|ERROR) ' "${SLOG[$hw]}" | head -n 20; } >>"$RES/hookwall-warnings.txt"
        fi
        if grep -qE 'panicked|^hookwall: ' "${SLOG[$hw]}"; then
            grep -E 'panicked|^hookwall: ' "${SLOG[$hw]}" >>"$RES/hookwall-warnings.txt"
        fi
        : >"${SLOG[$hw]}"   # opened O_APPEND: hookwall goes on writing at the new end
    fi
    line=$(grep -m1 '^WRKRESULT' "$raw" || true)
    if [[ -z $line ]]; then
        log "  no result from wrk (${meta[*]}): see $raw"
        return 1
    fi
    row=$(python3 "$BENCH/lib/record.py" "$before" "$after" "$line" "${meta[@]}" lead="$lead" \
        hz="$CLK_TCK" wrk_ticks=$((w1 - w0)) warn_lines="$warn")
    echo "$row" >>"$csv"
    ROW=$row
    python3 "$BENCH/lib/record.py" --show "$lead" "$row" >&2
}

versions() {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "kernel: $(uname -sr)"
    echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) x $(nproc)"
    echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //')"
    echo "wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    echo "python: $(python3 -c 'import sys; print(sys.version.split()[0])')"
    echo "hookwall: $HOOKWALL_BIN ($(timeout 5 "$HOOKWALL_BIN" --version 2>/dev/null | head -1 || true)); git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' +local changes')"
    echo "hookwall log level: ${HOOKWALL_LOG_LEVEL:-default (RUST_LOG, else info: one line per request)}"
}
