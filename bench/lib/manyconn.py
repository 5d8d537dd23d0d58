#!/usr/bin/env python3
"""Memory under many large bodies at once (bench/scaling.sh): CONNS connections, each posting
its own signed body of SIZE bytes, all in flight together; hookwall's VmRSS sampled meanwhile.

usage: manyconn.py --port P --path /webhooks/github --conns 1000 --size 1m --pid HOOKWALL_PID
                   [--hold 2] [--timeline FILE]
Phases:
  1. open CONNS connections; on each send the request head and the body except its last byte
     (in 256 KiB chunks); wait until every connection has sent that much.
  2. hold HOLD seconds: hookwall now holds every body it has read, waiting for its last byte.
  3. send the last byte everywhere and read every response.
Bodies are distinct (the counter at the end of the JSON, as payloads.py's distinct layout),
so replay protection sees no duplicates. Prints one line of key=value: statuses, the
sampled peak VmRSS, VmHWM at the end, RSS before / after, timings. --timeline writes the
samples (seconds since start, phase, VmRSS kB) as CSV.
"""
import argparse
import asyncio
import collections
import hashlib
import hmac
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from payloads import body_of_size, parse_size  # noqa: E402

CHUNK = 256 * 1024


def vm(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/webhooks/github")
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--size", default="1m")
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--hold", type=float, default=2.0)
    ap.add_argument("--timeline")
    a = ap.parse_args()
    secret = os.environ["GITHUB_WEBHOOK_SECRET"].encode()
    size = parse_size(a.size)
    prefix = body_of_size(size, reserve=10)[: size - 12]
    pmac = hmac.new(secret, prefix, hashlib.sha256)
    base = int(time.time()) % 10 ** 6 * 1000   # fresh counters on every call
    tails, sigs = [], []
    for i in range(a.conns):
        tail = b"%010d" % (base + i) + b'"}'
        h = pmac.copy()
        h.update(tail)
        tails.append(tail)
        sigs.append("sha256=" + h.hexdigest())
    view = memoryview(prefix)

    t0 = time.monotonic()
    phase = ["connect"]
    samples = []
    peak = {"connect": 0, "send": 0, "hold": 0, "finish": 0}
    stop = threading.Event()

    def sampler():   # a thread: the event loop is too busy to sample on time while sending
        while True:
            rss = vm(a.pid, "VmRSS")
            samples.append((time.monotonic() - t0, phase[0], rss))
            peak[phase[0]] = max(peak[phase[0]], rss)
            if stop.wait(0.02):
                return

    rss_before = vm(a.pid, "VmRSS")
    sampling = threading.Thread(target=sampler, daemon=True)
    sampling.start()
    await asyncio.sleep(0.1)
    sent_all = asyncio.Event()
    n_sent = [0]
    go = asyncio.Event()
    statuses = collections.Counter()

    def count_sent():
        n_sent[0] += 1
        if n_sent[0] == a.conns:
            sent_all.set()

    async def one(i):
        counted = False
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", a.port)
        except OSError as e:
            statuses[f"connect-error:{e.errno}"] += 1
            count_sent()
            return
        try:
            head = (f"POST {a.path} HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\n"
                    f"Content-Type: application/json\r\nUser-Agent: GitHub-Hookshot/bench\r\n"
                    f"X-GitHub-Event: push\r\nX-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-{base + i:012d}\r\n"
                    f"X-Hub-Signature-256: {sigs[i]}\r\nContent-Length: {size}\r\n"
                    f"Connection: close\r\n\r\n").encode()
            writer.write(head)
            for off in range(0, len(view), CHUNK):
                writer.write(view[off:off + CHUNK])
                await writer.drain()
            writer.write(tails[i][:-1])
            await writer.drain()
            counted = True
            count_sent()
            await go.wait()
            writer.write(tails[i][-1:])
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 120)
            parts = line.split()
            statuses[parts[1].decode() if len(parts) > 1 else "no-response"] += 1
            await reader.read()
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
            statuses[f"error:{type(e).__name__}"] += 1
            if not counted:
                count_sent()
        finally:
            writer.close()

    phase[0] = "send"
    tasks = [asyncio.create_task(one(i)) for i in range(a.conns)]
    await asyncio.wait_for(sent_all.wait(), 300)
    t_sent = time.monotonic() - t0
    phase[0] = "hold"
    await asyncio.sleep(a.hold)
    rss_hold = vm(a.pid, "VmRSS")
    phase[0] = "finish"
    go.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 300)
    t_done = time.monotonic() - t0
    await asyncio.sleep(0.5)
    stop.set()
    sampling.join()
    rss_after = vm(a.pid, "VmRSS")
    if a.timeline:
        with open(a.timeline, "w") as f:
            f.write("t_s,phase,rss_kb\n")
            f.writelines(f"{t:.3f},{p},{r}\n" for t, p, r in samples)
    ok = sum(v for k, v in statuses.items() if k.startswith("2"))
    print(" ".join([
        f"conns={a.conns}", f"body_bytes={size}", f"ok={ok}",
        "statuses=" + ";".join(f"{k}:{v}" for k, v in sorted(statuses.items())),
        f"rss_before_kb={rss_before}", f"peak_send_kb={peak['send']}",
        f"peak_hold_kb={peak['hold']}", f"rss_hold_end_kb={rss_hold}",
        f"peak_finish_kb={peak['finish']}",
        f"peak_rss_kb={max(peak.values())}", f"hwm_kb={vm(a.pid, 'VmHWM')}",
        f"rss_after_kb={rss_after}", f"t_all_sent_s={t_sent:.2f}", f"t_done_s={t_done:.2f}",
        f"samples={len(samples)}"]))


if __name__ == "__main__":
    asyncio.run(main())
