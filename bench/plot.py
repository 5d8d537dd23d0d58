#!/usr/bin/env python3
"""Charts from bench/load.sh and bench/scaling.sh results.

usage: python3 bench/plot.py [RESULTS_DIR ...]
  default: bench/work/results/latest-load and bench/work/results/latest-scaling
Writes next to the CSVs:
  load.png      (raw.csv)      req/s and hookwall CPU µs/request by configuration and body size
                               (bars: median over rounds; whiskers: min–max)
  scaling.png   (scaling.csv)  req/s, hookwall CPU µs/request and p99 latency against body
                               size, number of routes and concurrent connections
  memory.png    (memory.csv, memory-timeline.csv, scaling.csv)  hookwall RSS: over time while
                               N connections each hold a large body, against max_body × N;
                               idle and after-load RSS of the other runs
matplotlib comes from the environment, else from a throwaway venv in bench/work/venv
(created and filled from PyPI on first use).
"""
import csv
import os
import statistics
import subprocess
import sys
from collections import defaultdict

BENCH = os.path.dirname(os.path.abspath(__file__))


def ensure_matplotlib():
    try:
        import matplotlib  # noqa: F401
        return
    except ImportError:
        pass
    venv = os.path.join(BENCH, "work", "venv")
    py = os.path.join(venv, "bin", "python")
    if os.environ.get("HOOKWALL_PLOT_VENV") == "1":
        sys.exit("matplotlib is still missing in " + venv)
    if not os.path.exists(py):
        print(f"plot.py: creating {venv} and installing matplotlib (PyPI)", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", venv])
    subprocess.check_call([py, "-m", "pip", "install", "-q", "matplotlib"])
    os.environ["HOOKWALL_PLOT_VENV"] = "1"
    # Re-run the script that was started (plot.py, or plot_peers.py importing this).
    os.execv(py, [py, os.path.abspath(sys.argv[0])] + sys.argv[1:])


ensure_matplotlib()
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

CFG_ORDER = ["direct", "verify", "verify-distinct", "replay", "reject"]
CFG_LABEL = {
    "direct": "direct to upstream (harness limit)",
    "verify": "hookwall verify, replay off (fixed body)",
    "verify-distinct": "hookwall verify, replay off (distinct bodies)",
    "replay": "hookwall verify, replay on (memory store)",
    "reject": "hookwall reject (bad signature → 401)",
}
CFG_COLOR = {"direct": "#9e9e9e", "verify": "#1f77b4", "verify-distinct": "#6baed6",
             "replay": "#ff7f0e", "reject": "#d62728", "hookwall": "#1f77b4"}


def fnum(x):
    return None if x in ("", "NA", None) else float(x)


def size_bytes(s):
    s = s.lower()
    mult = 1024 if s.endswith("k") else 1024 * 1024 if s.endswith("m") else 1
    return int(s.rstrip("km")) * mult


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def meta(res):
    """A short settings line and whether the runs were noisy, for chart subtitles."""
    settings = ""
    vpath = os.path.join(res, "versions.txt")
    if os.path.exists(vpath):
        for line in open(vpath):
            if line.startswith("settings:"):
                settings = line.split(":", 1)[1].strip()
    return settings


def noisy_note(rows):
    other = [fnum(r.get("other_pct")) or 0 for r in rows]
    if not other:
        return ""
    med = statistics.median(other)
    if med > 10:
        return f"NOISY: foreign processes used a median {med:.0f} % of the two cores during the runs"
    return f"foreign CPU during runs: median {med:.0f} % of the two cores"


def plot_load(res):
    rows = read_csv(os.path.join(res, "raw.csv"))
    if not rows:
        return None
    sizes = sorted({r["size"] for r in rows}, key=size_bytes)
    cfgs = [c for c in CFG_ORDER if any(r["config"] == c for r in rows)]
    g = defaultdict(list)
    for r in rows:
        g[(r["config"], r["size"])].append(r)
    rounds = len({r["round"] for r in rows})
    conns = ",".join(sorted({r["conns"] for r in rows}, key=int))

    fig, axes = plt.subplots(1, 2, figsize=(15, 6.2))
    panels = [
        (axes[0], "rps", "requests per second", "Throughput (higher is better)", cfgs, 1.0),
        (axes[1], "cpu_us_per_req", "hookwall CPU time per request (µs, user+system)",
         "hookwall CPU per request (lower is better)", [c for c in cfgs if c != "direct"], 1.0),
    ]
    for ax, key, ylabel, title, shown, _ in panels:
        width = 0.8 / max(1, len(shown))
        for i, cfg in enumerate(shown):
            xs, meds, lo, hi = [], [], [], []
            for j, size in enumerate(sizes):
                vals = [fnum(r[key]) for r in g.get((cfg, size), []) if fnum(r[key]) is not None]
                if not vals:
                    continue
                m = statistics.median(vals)
                xs.append(j - 0.4 + width * (i + 0.5))
                meds.append(m)
                lo.append(m - min(vals))
                hi.append(max(vals) - m)
            if not xs:
                continue
            bars = ax.bar(xs, meds, width * 0.92, yerr=[lo, hi], capsize=3,
                          color=CFG_COLOR.get(cfg), label=CFG_LABEL.get(cfg, cfg),
                          error_kw={"elinewidth": 1, "ecolor": "#333333"})
            for b, m, h in zip(bars, meds, hi):   # the label above the whisker
                ax.annotate(f"{m:,.0f}" if key == "rps" else f"{m:.1f}",
                            (b.get_x() + b.get_width() / 2, m + h), xytext=(0, 3),
                            textcoords="offset points", ha="center", va="bottom", fontsize=7,
                            rotation=90 if key == "rps" else 0)
        ax.set_xticks(range(len(sizes)))
        ax.set_xticklabels([f"{s} body" for s in sizes])
        ax.set_xlabel("request body size (KiB)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.12)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False, fontsize=9)
    fig.suptitle(f"hookwall load benchmark ({os.path.basename(res)}): wrk -t1 -c{conns} POST, "
                 f"median of {rounds} round(s), whiskers min–max; hookwall pinned to 1 core, "
                 f"wrk + nginx upstream on the other\n{noisy_note(rows)}", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 0.93))
    out = os.path.join(res, "load.png")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def series(rows, curve, cfg, key):
    """x values (numeric) and median/min/max of `key` per x, for one curve and config."""
    by = defaultdict(list)
    for r in rows:
        if r["curve"] == curve and r["config"] == cfg and fnum(r[key]) is not None:
            by[r["x"]].append(fnum(r[key]))
    xs = sorted(by, key=size_bytes)
    return ([size_bytes(x) for x in xs], xs, [statistics.median(by[x]) for x in xs],
            [min(by[x]) for x in xs], [max(by[x]) for x in xs])


def plot_scaling(res):
    rows = read_csv(os.path.join(res, "scaling.csv"))
    curves = [c for c in ("size", "routes", "conns") if any(r["curve"] == c for r in rows)]
    if not curves:
        return None
    xlabel = {"size": "request body size (bytes, log scale)",
              "routes": "routes in the config (log scale; request hits the middle one)",
              "conns": "concurrent connections (wrk -c, log scale)"}
    ctitle = {"size": "vs body size", "routes": "vs number of routes", "conns": "vs connections"}
    metrics = [("rps", "requests per second"),
               ("cpu_us_per_req", "hookwall CPU per request (µs)"),
               ("p99_us", "p99 latency (ms)")]
    fig, axes = plt.subplots(len(metrics), len(curves), figsize=(5.2 * len(curves), 11),
                             squeeze=False)
    for j, curve in enumerate(curves):
        for i, (key, ylabel) in enumerate(metrics):
            ax = axes[i][j]
            seen = []
            for cfg, style in (("hookwall", "-o"), ("direct", "--s")):
                if key == "cpu_us_per_req" and cfg == "direct":
                    continue
                x, labels, med, lo, hi = series(rows, curve, cfg, key)
                if not x:
                    continue
                scale = 1 / 1000 if key == "p99_us" else 1
                med = [v * scale for v in med]
                lo = [v * scale for v in lo]
                hi = [v * scale for v in hi]
                seen += [v for v in lo + hi if v > 0]
                ax.errorbar(x, med, yerr=[[m - l for m, l in zip(med, lo)],
                                          [h - m for m, h in zip(med, hi)]],
                            fmt=style, capsize=3, color=CFG_COLOR[cfg] if cfg == "hookwall"
                            else CFG_COLOR["direct"],
                            label="hookwall (verify, replay off)" if cfg == "hookwall"
                            else "direct to upstream (harness limit)")
                for xv, m in zip(x, med):
                    ax.annotate(f"{m:,.0f}" if m >= 10 else f"{m:.2f}", (xv, m), xytext=(4, 4),
                                textcoords="offset points", fontsize=7)
                ax.set_xscale("log")
                ax.set_xticks(x)
                ax.set_xticklabels(labels)
                ax.minorticks_off()
            if seen and max(seen) / min(seen) >= 10:   # a wide range: log scale
                ax.set_yscale("log")
                ax.set_ylim(min(seen) / 1.5, max(seen) * 2.5)
            else:
                ax.set_ylim(0, max(seen or [1]) * 1.2)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 10 else f"{v:g}"))
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
            ax.set_ylabel(ylabel)
            ax.set_xlabel(xlabel[curve])
            ax.set_title(f"{ylabel.split(' (')[0]} {ctitle[curve]}", fontsize=10)
            ax.grid(alpha=0.3, which="both")
            if i == 0:
                ax.legend(fontsize=8)
    fig.suptitle(f"hookwall cost curves ({os.path.basename(res)}): each point one short wrk run, "
                 f"fresh hookwall, 1 core; whiskers min–max over rounds\n{noisy_note(rows)}",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    out = os.path.join(res, "scaling.png")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_memory(res):
    mpath = os.path.join(res, "memory.csv")
    tpath = os.path.join(res, "memory-timeline.csv")
    spath = os.path.join(res, "scaling.csv")
    if not os.path.exists(mpath):
        return None
    mem = read_csv(mpath)
    big = [r for r in mem if r["scenario"] != "idle"]
    idle = [r for r in mem if r["scenario"] == "idle"]
    fig, axes = plt.subplots(1, 2, figsize=(15, 5.8), gridspec_kw={"width_ratios": [1.2, 1]})
    ax = axes[0]
    if os.path.exists(tpath) and big:
        t = read_csv(tpath)
        r = big[0]
        xs = [float(s["t_s"]) for s in t]
        ys = [int(s["rss_kb"]) / 1024 for s in t]
        ax.plot(xs, ys, color=CFG_COLOR["verify"], label="hookwall VmRSS (sampled every 20 ms)")
        # A phase lasts from its first sample to the first sample of the next one.
        starts = {}
        for s in t:
            starts.setdefault(s["phase"], float(s["t_s"]))
        order = [p for p in ("connect", "send", "hold", "finish") if p in starts]
        ends = {p: (starts[order[k + 1]] if k + 1 < len(order) else xs[-1])
                for k, p in enumerate(order)}
        for phase, color in (("send", "#fff3cd"), ("hold", "#ffe0b2"), ("finish", "#e3f2fd")):
            if phase in starts:
                ax.axvspan(starts[phase], ends[phase], color=color, alpha=0.7, lw=0,
                           label={"send": "sending bodies (all but the last byte)",
                                  "hold": "all bodies in flight, last byte held back",
                                  "finish": "last byte sent, responses read"}[phase])
        exp = int(r["expected_kb"]) / 1024
        ax.axhline(exp, color="#d62728", ls="--",
                   label=f"max_body × connections = {exp:,.0f} MiB")
        ax.set_title(f"RSS while {r['conns']} connections each send a "
                     f"{int(r['body_bytes']) / 1048576:g} MiB signed body at once\n"
                     f"peak {int(r['peak_rss_kb']) / 1024:,.0f} MiB (VmHWM {int(r['hwm_kb']) / 1024:,.0f} MiB)"
                     f" = {r['peak_over_expected']} × max_body × connections; "
                     f"{r['ok']} × 2xx", fontsize=10)
        ax.set_xlabel("time since the client started (s)")
        ax.set_ylabel("hookwall resident memory (MiB)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.set_ylim(0, max(max(ys), exp) * 1.3)
        ax.legend(fontsize=8, loc="upper right")
    else:
        ax.set_axis_off()
    ax = axes[1]
    labels, vals, colors = [], [], []
    if idle:
        labels.append("idle, 1 route")
        vals.append(int(idle[0]["rss_before_kb"]) / 1024)
        colors.append("#9e9e9e")
    if os.path.exists(spath):
        rows = read_csv(spath)
        for curve, what in (("routes", "idle, {} route(s)"), ("routes", "after load, {} route(s)"),
                            ("conns", "after load, {} conns"), ("size", "after load, {} bodies")):
            key = "idle_rss_kb" if what.startswith("idle") else "rss_kb"
            by = defaultdict(list)
            for r in rows:
                if r["curve"] == curve and r["config"] == "hookwall" and fnum(r[key]):
                    by[r["x"]].append(fnum(r[key]) / 1024)
            for x in sorted(by, key=size_bytes):
                if what.startswith("idle") and x == "1":
                    continue
                labels.append(what.format(x))
                vals.append(statistics.median(by[x]))
                colors.append("#9e9e9e" if what.startswith("idle") else CFG_COLOR["verify"])
    for r in big:
        labels.append(f"peak, {r['conns']} × {int(r['body_bytes']) / 1048576:g} MiB in flight")
        vals.append(int(r["peak_rss_kb"]) / 1024)
        colors.append("#ff7f0e")
        labels.append(f"max_body × {r['conns']} connections")
        vals.append(int(r["expected_kb"]) / 1024)
        colors.append("#d62728")
    if vals:
        y = range(len(vals))
        ax.barh(list(y), vals, color=colors)
        ax.set_yticks(list(y))
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
        for i, v in enumerate(vals):
            ax.annotate(f"{v:,.1f}", (v, i), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=7)
        ax.set_xlabel("hookwall resident memory (MiB, log scale)")
        ax.set_title("hookwall RSS: idle, after the scaling runs, and the large-body peak",
                     fontsize=10)
        ax.grid(axis="x", alpha=0.3, which="both")
    fig.suptitle(f"hookwall memory ({os.path.basename(res)})", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    out = os.path.join(res, "memory.png")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main():
    dirs = sys.argv[1:]
    if not dirs:
        base = os.path.join(BENCH, "work", "results")
        dirs = [os.path.join(base, n) for n in ("latest-load", "latest-scaling")
                if os.path.exists(os.path.join(base, n))]
    if not dirs:
        sys.exit("no results: run bench/load.sh or bench/scaling.sh first, or give a results folder")
    for d in dirs:
        d = os.path.realpath(d)
        made = []
        if os.path.exists(os.path.join(d, "raw.csv")):
            made.append(plot_load(d))
        if os.path.exists(os.path.join(d, "scaling.csv")):
            made.append(plot_scaling(d))
        if os.path.exists(os.path.join(d, "memory.csv")):
            made.append(plot_memory(d))
        made = [m for m in made if m]
        if not made:
            print(f"{d}: no raw.csv / scaling.csv / memory.csv", file=sys.stderr)
        for m in made:
            print(m)


if __name__ == "__main__":
    main()
