#!/usr/bin/env python3
"""Chart of a peer-harness run (../shared/bench/run.sh with hookwall in it).

usage: python3 bench/plot_peers.py RAW_CSV [OUT_PNG]
Reads the harness's raw.csv (one row per run) and draws, per body size, the median over
rounds (whiskers: min-max) of requests/s and of proxy CPU per request for direct, nginx
proxy_pass (A), nginx+njs (B), HAProxy (C) and hookwall, for valid and for invalid
signatures. matplotlib comes from bench/work/venv when the environment lacks it (see
plot.py).
"""
import csv
import os
import statistics
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plot  # noqa: E402  (for ensure_matplotlib)

NAMES = {
    "direct": "direct",
    "peer-a": "A nginx\nno verify",
    "peer-b": "B nginx+njs",
    "peer-c": "C HAProxy",
    "hookwall": "hookwall",
}


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    raw = argv[1]
    out = argv[2] if len(argv) > 2 else os.path.join(os.path.dirname(raw), "peers.png")
    plot.ensure_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = defaultdict(list)
    with open(raw, newline="") as f:
        for row in csv.DictReader(f):
            runs[(row["mode"], row["size"], row["config"])].append(row)
    sizes = sorted({s for (_, s, _) in runs}, key=lambda s: int(s.rstrip("k")))
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    for col, mode in enumerate(["valid", "invalid"]):
        for row_i, (metric, label) in enumerate(
            [("rps", "requests/s"), ("cpu_us_per_req", "proxy CPU µs / request")]
        ):
            ax = axes[row_i][col]
            configs = [c for c in NAMES if any((mode, s, c) in runs for s in sizes)]
            if metric != "rps":
                configs = [c for c in configs if c != "direct"]
            width = 0.8 / max(1, len(sizes))
            for k, size in enumerate(sizes):
                meds, lo, hi = [], [], []
                for c in configs:
                    vals = [
                        float(r[metric])
                        for r in runs.get((mode, size, c), [])
                        if r[metric] not in ("", "NA")
                    ]
                    m = statistics.median(vals) if vals else 0.0
                    meds.append(m)
                    lo.append(m - (min(vals) if vals else 0.0))
                    hi.append((max(vals) if vals else 0.0) - m)
                xs = [i + (k - (len(sizes) - 1) / 2) * width for i in range(len(configs))]
                bars = ax.bar(xs, meds, width, yerr=[lo, hi], capsize=3, label=f"{size} body")
                for b, c in zip(bars, configs):
                    if c == "hookwall":
                        b.set_edgecolor("black")
                        b.set_linewidth(1.5)
            ax.set_xticks(range(len(configs)))
            ax.set_xticklabels([NAMES[c] for c in configs], fontsize=9)
            ax.set_ylabel(label)
            ax.set_title(f"{'valid signature, forwarded' if mode == 'valid' else 'invalid signature, 401'}: {label}")
            ax.grid(axis="y", alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle(
        "Peer harness: one proxy core, wrk -c32 and nginx upstream on the other core; median of rounds, whiskers min–max"
    )
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main(sys.argv)
