#!/usr/bin/env python3
"""One snapshot of what a run changes; bench/lib/record.py subtracts two of them.

usage: probe.py [--pid PID] [--known PID ...] [--admin HOST:PORT] [--upstream-status URL]
                [--log FILE] --cpus PROXY,LOAD
Prints one line of key=value:
  hw_ticks  utime+stime of PID (hookwall itself: all its threads), clock ticks
  rss_kb    VmRSS of PID;  hwm_kb  VmHWM of PID (its peak RSS since start)
  known_ticks  CPU ticks of the --known process trees (the upstream, the other proxies)
  m_<outcome>  hookwall_requests_total summed by outcome, from the admin /metrics
  up_requests  requests the upstream nginx has served (stub_status), status requests included
  up_accepts   connections the upstream nginx has accepted (stub_status), status ones included
  log_bytes    size of the hookwall log
  <p|l>_busy <p|l>_total <p|l>_steal <p|l>_softirq   /proc/stat ticks of the proxy and the
      load core (softirq: the kernel's network receive work, loopback included, which is
      charged to no process)
"""
import argparse
import os
import urllib.request


def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()
    # rest[0] = state (field 3): ppid = field 4, utime = 14, stime = 15
    return int(rest[1]), int(rest[11]) + int(rest[12])


def status(pid):
    out = {"rss_kb": "NA", "hwm_kb": "NA"}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss_kb"] = line.split()[1]
                elif line.startswith("VmHWM:"):
                    out["hwm_kb"] = line.split()[1]
    except OSError:
        pass
    return out


def tree_ticks(roots):
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                procs[int(d)] = stat(d)
            except (OSError, ValueError, IndexError):
                pass
    seen, todo, ticks = set(), [r for r in roots if r in procs], 0
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        ticks += procs[p][1]
        todo.extend(c for c, (pp, _) in procs.items() if pp == p)
    return ticks


def core(cpu):
    with open("/proc/stat") as f:
        for line in f:
            v = line.split()
            if v[0] == f"cpu{cpu}":
                t = [int(x) for x in v[1:9]]
                total = sum(t)
                # busy (incl. steal), total, steal, softirq
                return total - t[3] - t[4], total, t[7], t[6]
    return 0, 1, 0, 0


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()
    except OSError:
        return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int)
    ap.add_argument("--known", type=int, nargs="*", default=[])
    ap.add_argument("--admin")
    ap.add_argument("--upstream-status")
    ap.add_argument("--log")
    ap.add_argument("--cpus", required=True)
    a = ap.parse_args()
    out = {}
    if a.pid:
        try:
            out["hw_ticks"] = stat(a.pid)[1]
        except OSError:
            out["hw_ticks"] = "NA"
        out.update(status(a.pid))
    else:
        out.update(hw_ticks="NA", rss_kb="NA", hwm_kb="NA")
    out["known_ticks"] = tree_ticks(a.known)
    if a.admin:
        m = {}
        for line in get(f"http://{a.admin}/metrics").splitlines():
            if line.startswith("hookwall_requests_total{"):
                labels, value = line.rsplit(" ", 1)
                outcome = labels.split('outcome="', 1)[1].split('"', 1)[0]
                m[outcome] = m.get(outcome, 0) + int(float(value))
        for k in ("forwarded", "rejected", "duplicate", "shadow", "handshake", "upstream_error"):
            out[f"m_{k}"] = m.pop(k, 0)
        out["m_misc"] = sum(m.values())
    if a.upstream_status:
        text = get(a.upstream_status).splitlines()
        # "server accepts handled requests" / " a h r"; r counts every status request too
        # (one per probe: record.py takes 1 off the difference)
        out["up_requests"] = int(text[2].split()[2]) if len(text) > 2 else "NA"
        out["up_accepts"] = int(text[2].split()[0]) if len(text) > 2 else "NA"
    if a.log:
        try:
            out["log_bytes"] = os.path.getsize(a.log)
        except OSError:
            out["log_bytes"] = "NA"
    p, l = a.cpus.split(",")
    for tag, c in (("p", p), ("l", l)):
        busy, total, steal, softirq = core(c)
        out[f"{tag}_busy"], out[f"{tag}_total"], out[f"{tag}_steal"] = busy, total, steal
        out[f"{tag}_softirq"] = softirq
    print(" ".join(f"{k}={v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
