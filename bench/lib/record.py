#!/usr/bin/env python3
"""One CSV row per run, from two probe.py snapshots and wrk's WRKRESULT line.

usage: record.py --header [LEAD_COLUMN...]
       record.py --show LEAD ROW     (one console line for a row)
       record.py BEFORE AFTER WRKRESULT_LINE key=value...
key=value: the leading columns (round, size, config, ... and, for scaling.sh, curve, x),
plus hz (clock ticks per s), wrk_ticks (CPU of wrk over the run, from the shell's `times`),
warn_lines (WARN/ERROR lines hookwall logged during the run), lead (comma-separated names of
the leading columns, in order).

Derived columns:
  rps               requests / wrk's duration
  non2xx            wrk's status errors (responses with status > 399)
  sock_errors       connect + read + write errors + timeouts
  cpu_us_per_req    hookwall utime+stime over the run (ticks, /proc/PID/stat) / requests
  rss_kb / hwm_kb   hookwall VmRSS after the run / VmHWM (peak since it started)
  upstream_reqs     requests the upstream served during the run (nginx stub_status)
  upstream_conns    connections the upstream accepted during the run (hookwall's pool growing)
  forwarded, rejected, duplicate, other_outcomes   hookwall_requests_total deltas (/metrics)
  wrapped           1 if a distinct-body run sent more requests than it had bodies
  core_*_busy       busy % of the proxy core / the load core
  softirq_proxy_us_per_req  softirq time of the proxy core / requests: kernel network work
                    (loopback packets) done on hookwall's core and charged to no process, so
                    not in cpu_us_per_req (wrk's and nginx's packets are mostly handled on
                    the load core)
  steal_pct         hypervisor steal, % of both cores
  other_pct         % of both cores used by anything but hookwall, the upstream, wrk and
                    softirq (i.e. by foreign processes)
  log_bytes_per_req bytes of hookwall log per request
"""
import sys

TAIL = ["requests", "duration_s", "rps", "p50_us", "p90_us", "p99_us", "max_us", "non2xx",
        "sock_errors", "cpu_s", "cpu_us_per_req", "rss_kb", "hwm_kb", "upstream_reqs", "upstream_conns",
        "forwarded", "rejected", "duplicate", "other_outcomes", "wrapped", "core_proxy_busy",
        "core_load_busy", "softirq_proxy_us_per_req", "steal_pct", "other_pct", "warn_lines",
        "log_bytes_per_req"]


def kv(text):
    return dict(x.split("=", 1) for x in text.split() if "=" in x)


def show(lead, row):
    lead = lead.split(",")
    r = dict(zip(lead + TAIL, row.split(",")))
    label = " ".join(r[c] for c in lead if r[c] != "")
    ms = lambda k: f"{int(r[k]) / 1000:.2f}"
    rss = "-" if r["rss_kb"] == "NA" else f"{int(r['rss_kb']) / 1024:.1f}MiB"
    print(f"  {label:<30} {float(r['rps']):>8,.0f} req/s  p50 {ms('p50_us')} p99 {ms('p99_us')} ms"
          f"  non2xx {r['non2xx']} sockerr {r['sock_errors']}  cpu/req {r['cpu_us_per_req']} us"
          f"  rss {rss}  upstream {r['upstream_reqs']} ({r['upstream_conns']} new conns)"
          f"  dup {r['duplicate']}"
          f"  softirq/req {r['softirq_proxy_us_per_req']} us"
          f"  cores {r['core_proxy_busy']}/{r['core_load_busy']}%  other {r['other_pct']}%"
          f"  warn {r['warn_lines']}")


def main():
    if sys.argv[1] == "--header":
        print(",".join(sys.argv[2:] + TAIL))
        return
    if sys.argv[1] == "--show":
        show(sys.argv[2], sys.argv[3])
        return
    b, a, w = kv(sys.argv[1]), kv(sys.argv[2]), kv(sys.argv[3])
    meta = dict(x.split("=", 1) for x in sys.argv[4:])
    lead = meta["lead"].split(",")
    hz = int(meta["hz"])

    def d(k):
        if b.get(k, "NA") == "NA" or a.get(k, "NA") == "NA":
            return None
        return int(a[k]) - int(b[k])

    req, dur = int(w["requests"]), int(w["duration_us"]) / 1e6
    hw = d("hw_ticks")
    up = d("up_requests")
    known = d("known_ticks") or 0
    wrk = int(meta.get("wrk_ticks", 0))
    busy_p, tot_p = d("p_busy"), d("p_total")
    busy_l, tot_l = d("l_busy"), d("l_total")
    tot = max(1, tot_p + tot_l)
    sirq_p, sirq_l = d("p_softirq"), d("l_softirq")
    other = max(0, busy_p + busy_l - sirq_p - sirq_l - (hw or 0) - known - wrk)
    outcomes = {k: d(f"m_{k}") for k in ("forwarded", "rejected", "duplicate")}
    misc = [d(f"m_{k}") for k in ("shadow", "handshake", "upstream_error", "misc")]
    logb = d("log_bytes")
    na = lambda x, f="{}": "NA" if x is None else f.format(x)
    row = [meta.get(c, "") for c in lead] + [
        str(req), f"{dur:.2f}", f"{req / dur if dur else 0:.1f}",
        w["p50_us"], w["p90_us"], w["p99_us"], w["max_us"], w["status"],
        str(sum(int(w[k]) for k in ("connect", "read", "write", "timeout"))),
        na(None if hw is None else hw / hz, "{:.2f}"),
        na(None if hw is None or not req else hw / hz * 1e6 / req, "{:.2f}"),
        a.get("rss_kb", "NA"), a.get("hwm_kb", "NA"),
        na(None if up is None else up - 1),
        na(None if d("up_accepts") is None else d("up_accepts") - 1),
        na(outcomes["forwarded"]), na(outcomes["rejected"]), na(outcomes["duplicate"]),
        na(None if any(x is None for x in misc) else sum(misc)),
        w.get("wrapped", "0"),
        f"{100 * busy_p / max(1, tot_p):.0f}", f"{100 * busy_l / max(1, tot_l):.0f}",
        f"{sirq_p / hz * 1e6 / req:.2f}" if req else "NA",
        f"{100 * (d('p_steal') + d('l_steal')) / tot:.1f}", f"{100 * other / tot:.1f}",
        meta.get("warn_lines", "0"),
        na(None if logb is None or not req else logb / req, "{:.0f}"),
    ]
    print(",".join(row))


if __name__ == "__main__":
    main()
