#!/usr/bin/env python3
"""usage: summarize_scaling.py RESULTS_DIR > summary.md      (bench/scaling.sh)

One table per curve from scaling.csv (median over rounds when ROUNDS > 1, [min–max]), and
the memory table from memory.csv.
"""
import csv
import os
import statistics
import sys
from collections import defaultdict

TITLE = {"size": "body size (1 route, max_body ≥ size)",
         "routes": "number of routes (1 KiB body; the request hits the middle route)",
         "conns": "concurrent connections (1 KiB body, 1 route)"}


def f(x):
    return None if x in ("", "NA", None) else float(x)


def med(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "n/a"
    m = statistics.median(vals)
    if len(vals) == 1:
        return fmt.format(m)
    return f"{fmt.format(m)} [{fmt.format(min(vals))}–{fmt.format(max(vals))}]"


def xkey(x):
    s = x.lower()
    mult = 1024 if s.endswith("k") else 1024 * 1024 if s.endswith("m") else 1
    return int(s.rstrip("km")) * mult


def main():
    res = sys.argv[1]
    path = os.path.join(res, "scaling.csv")
    rows = list(csv.DictReader(open(path))) if os.path.exists(path) else []
    groups = defaultdict(list)
    for r in rows:
        groups[(r["curve"], r["x"], r["config"])].append(r)
    for curve in ("size", "routes", "conns"):
        xs = sorted({r["x"] for r in rows if r["curve"] == curve}, key=xkey)
        if not xs:
            continue
        print(f"\n### {TITLE[curve]}\n")
        print(f"| {curve} | configuration | requests/s | × direct | p50 ms | p99 ms | non-2xx / requests "
              "| sock err | hookwall CPU µs/req | proxy-core softirq µs/req | idle RSS MiB | RSS after MiB | upstream conns opened "
              "| proxy core % | load core % | other CPU % |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for x in xs:
            for cfg in ("direct", "hookwall"):
                g = groups.get((curve, x, cfg))
                if not g:
                    continue
                d = {r["round"]: float(r["rps"]) for r in groups.get((curve, x, "direct"), [])}
                xd = [float(r["rps"]) / d[r["round"]] for r in g if r["round"] in d]
                tot = sum(int(r["requests"]) for r in g)
                print(f"| {x} | {cfg} | {med([f(r['rps']) for r in g], '{:,.0f}')} "
                      f"| {'1.00' if cfg == 'direct' else med(xd, '{:.2f}')} "
                      f"| {med([f(r['p50_us']) / 1000 for r in g], '{:.2f}')} "
                      f"| {med([f(r['p99_us']) / 1000 for r in g], '{:.2f}')} "
                      f"| {sum(int(r['non2xx']) for r in g):,} / {tot:,} "
                      f"| {sum(int(r['sock_errors']) for r in g)} "
                      f"| {med([f(r['cpu_us_per_req']) for r in g], '{:.1f}')} "
                      f"| {med([f(r.get('softirq_proxy_us_per_req')) for r in g], '{:.1f}')} "
                      f"| {med([f(r['idle_rss_kb']) / 1024 for r in g if f(r['idle_rss_kb'])], '{:.1f}')} "
                      f"| {med([f(r['rss_kb']) / 1024 for r in g if f(r['rss_kb'])], '{:.1f}')} "
                      f"| {med([f(r.get('upstream_conns')) for r in g], '{:.0f}')} "
                      f"| {med([f(r['core_proxy_busy']) for r in g], '{:.0f}')} "
                      f"| {med([f(r['core_load_busy']) for r in g], '{:.0f}')} "
                      f"| {med([f(r['other_pct']) for r in g], '{:.1f}')} |")
    mpath = os.path.join(res, "memory.csv")
    if os.path.exists(mpath):
        print("\n### memory\n")
        print("| scenario | max_body × connections MiB | RSS before MiB | peak RSS sampled MiB "
              "(send / hold / finish) | VmHWM MiB | RSS after MiB | peak ÷ (max_body × conns) "
              "| 2xx | statuses | all sent after s | done after s |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        mib = lambda v: "–" if v in ("", None) else f"{int(v) / 1024:.1f}"
        for r in csv.DictReader(open(mpath)):
            if r["scenario"] == "idle":
                print(f"| idle (started, no load) | – | {mib(r['rss_before_kb'])} | – "
                      f"| {mib(r['hwm_kb'])} | – | – | – | – | – | – |")
                continue
            print(f"| {r['scenario']} | {mib(r['expected_kb'])} | {mib(r['rss_before_kb'])} "
                  f"| {mib(r['peak_rss_kb'])} ({mib(r['peak_send_kb'])} / {mib(r['peak_hold_kb'])} / "
                  f"{mib(r['peak_finish_kb'])}) | {mib(r['hwm_kb'])} | {mib(r['rss_after_kb'])} "
                  f"| {r['peak_over_expected']} | {r['ok']} | {r['statuses']} "
                  f"| {r['t_all_sent_s']} | {r['t_done_s']} |")
    noisy = [r for r in rows if (f(r["other_pct"]) or 0) > 10]
    if noisy:
        print(f"\nnoisy points (other CPU > 10 % of the two cores): {len(noisy)} of {len(rows)}")
    warn = sum(int(r.get("warn_lines") or 0) for r in rows)
    print(f"\nhookwall WARN/ERROR log lines during the curve runs: {warn}")


if __name__ == "__main__":
    main()
