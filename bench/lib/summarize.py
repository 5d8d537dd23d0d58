#!/usr/bin/env python3
"""usage: summarize.py RAW_CSV > summary.md       (bench/load.sh)

Per size and configuration: median over rounds and [min–max] of requests/s, of the ratio
to `direct` measured in the same round, of p50/p99; non-2xx and socket errors over all
requests; hookwall CPU µs per request and what it adds over the matching replay-off run of
the same round; RSS after the run; how many requests reached the upstream and how many
were answered as duplicates; busy % of the two cores; other CPU % (foreign load).
"""
import csv
import statistics
import sys
from collections import defaultdict

ORDER = ["direct", "verify", "verify-distinct", "replay", "reject"]
LABEL = {
    "direct": "direct to upstream (harness limit)",
    "verify": "hookwall verify, replay off (fixed body)",
    "verify-distinct": "hookwall verify, replay off (distinct bodies)",
    "replay": "hookwall verify, replay on (memory, distinct bodies)",
    "reject": "hookwall reject (bad signature → 401)",
}
# What each configuration's extra CPU is measured against (same round, same size).
BASELINE = {"verify-distinct": "verify", "replay": "verify-distinct", "reject": "verify"}


def f(x):
    return None if x in ("", "NA", None) else float(x)


def med_rng(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "n/a"
    m = statistics.median(vals)
    if len(vals) == 1:
        return fmt.format(m)
    return f"{fmt.format(m)} [{fmt.format(min(vals))}–{fmt.format(max(vals))}]"


def size_key(s):
    s = s.lower()
    mult = 1024 if s.endswith("k") else 1024 * 1024 if s.endswith("m") else 1
    return int(s.rstrip("km")) * mult


def main():
    rows = list(csv.DictReader(open(sys.argv[1])))
    if not rows:
        print("no runs recorded")
        return
    by = {(r["round"], r["size"], r["config"]): r for r in rows}
    groups = defaultdict(list)
    for r in rows:
        groups[(r["size"], r["config"])].append(r)
    sizes = sorted({r["size"] for r in rows}, key=size_key)
    rounds = sorted({r["round"] for r in rows}, key=int)
    conns = sorted({r["conns"] for r in rows}, key=int)
    print(f"rounds: {len(rounds)}; connections: {', '.join(conns)}; "
          "cells: median [min–max] over rounds; × direct and Δ CPU are per round, then the median\n")
    print("| size | configuration | requests/s | × direct | p50 ms | p99 ms | non-2xx / requests "
          "| sock err | hookwall CPU µs/req | Δ CPU µs/req (vs) | proxy-core softirq µs/req "
          "| hookwall RSS MiB | reached upstream | duplicates | proxy core % | load core % "
          "| other CPU % |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        for cfg in ORDER + sorted({c for _, c in groups} - set(ORDER)):
            g = groups.get((size, cfg))
            if not g:
                continue
            rps = [float(r["rps"]) for r in g]
            xd = [float(r["rps"]) / float(by[(r["round"], size, "direct")]["rps"])
                  for r in g if (r["round"], size, "direct") in by]
            base = BASELINE.get(cfg)
            dcpu = [f(r["cpu_us_per_req"]) - f(by[(r["round"], size, base)]["cpu_us_per_req"])
                    for r in g if base and (r["round"], size, base) in by
                    and f(r["cpu_us_per_req"]) is not None
                    and f(by[(r["round"], size, base)]["cpu_us_per_req"]) is not None]
            total = sum(int(r["requests"]) for r in g)
            non2xx = sum(int(r["non2xx"]) for r in g)
            sock = sum(int(r["sock_errors"]) for r in g)
            up = [f(r["upstream_reqs"]) for r in g]
            up_s = "n/a" if any(u is None for u in up) else f"{int(sum(up)):,}"
            dup = [f(r["duplicate"]) for r in g]
            dup_s = "–" if cfg == "direct" or any(d is None for d in dup) else f"{int(sum(dup)):,}"
            if any(r.get("wrapped") == "1" for r in g):
                dup_s += " (table wrapped!)"
            rss = [f(r["rss_kb"]) for r in g]
            print(f"| {size} | {LABEL.get(cfg, cfg)} | {med_rng(rps, '{:,.0f}')} "
                  f"| {'1.00' if cfg == 'direct' else med_rng(xd, '{:.2f}')} "
                  f"| {med_rng([f(r['p50_us']) / 1000 for r in g], '{:.2f}')} "
                  f"| {med_rng([f(r['p99_us']) / 1000 for r in g], '{:.2f}')} "
                  f"| {non2xx:,} / {total:,} | {sock} "
                  f"| {'–' if cfg == 'direct' else med_rng([f(r['cpu_us_per_req']) for r in g], '{:.1f}')} "
                  f"| {med_rng(dcpu, '{:+.1f}') + f' ({base})' if dcpu else '–'} "
                  f"| {med_rng([f(r.get('softirq_proxy_us_per_req')) for r in g], '{:.1f}')} "
                  f"| {'–' if cfg == 'direct' else med_rng([x / 1024 for x in rss if x], '{:.1f}')} "
                  f"| {up_s} | {dup_s} "
                  f"| {med_rng([f(r['core_proxy_busy']) for r in g], '{:.0f}')} "
                  f"| {med_rng([f(r['core_load_busy']) for r in g], '{:.0f}')} "
                  f"| {med_rng([f(r['other_pct']) for r in g], '{:.1f}')} |")
    warn = sum(int(r.get("warn_lines") or 0) for r in rows)
    logb = [f(r.get("log_bytes_per_req")) for r in rows if r["config"] != "direct"]
    print()
    print(f"hookwall WARN/ERROR log lines during the runs: {warn}"
          + (" (see hookwall-warnings.txt)" if warn else ""))
    if any(x is not None for x in logb):
        print(f"hookwall log volume: {med_rng(logb, '{:.0f}')} bytes per request")
    noisy = [r for r in rows if (f(r["other_pct"]) or 0) > 10]
    if noisy:
        print(f"\nnoisy runs (other CPU > 10 % of the two cores: foreign load): {len(noisy)} of "
              f"{len(rows)}: " + ", ".join(f"r{r['round']} {r['size']} {r['config']} "
                                          f"({r['other_pct']}%)" for r in noisy))


if __name__ == "__main__":
    main()
