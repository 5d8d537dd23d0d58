#!/usr/bin/env python3
"""Functional checks before any measurement (bench/load.sh).

usage: check.py --payloads DIR --sizes 1k,16k --upstream-status URL
                [--verify URL] [--replay URL]
  --verify: hookwall with replay off. Valid signature -> 2xx and the upstream got it; the
            same body again -> 2xx, no X-Hookwall-Duplicate, upstream got it again (replay off
            really is off); invalid signature, missing header, tampered body -> 401/403 and
            the upstream got nothing.
  --replay: hookwall with replay on (memory store). A fresh signed body -> 2xx, forwarded;
            the same again -> 200 with X-Hookwall-Duplicate: true, not forwarded.
Prints one line per check; exit 1 if any failed.
"""
import argparse
import hashlib
import hmac
import os
import sys
import time
import urllib.parse
import urllib.request
import http.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from payloads import body_of_size, parse_size  # noqa: E402


def post(url, body, sig):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push",
               "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
               "User-Agent": "GitHub-Hookshot/bench-check"}
    if sig is not None:
        headers["X-Hub-Signature-256"] = sig
    try:
        conn.request("POST", u.path, body=body, headers=headers)
        r = conn.getresponse()
        r.read()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders())
    except OSError as e:
        return f"error: {e}", {}
    finally:
        conn.close()


def upstream_count(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return int(r.read().decode().splitlines()[2].split()[2])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--payloads", required=True)
    ap.add_argument("--sizes", required=True)
    ap.add_argument("--upstream-status", required=True)
    ap.add_argument("--verify")
    ap.add_argument("--replay")
    a = ap.parse_args()
    secret = os.environ["GITHUB_WEBHOOK_SECRET"].encode()
    failed = 0

    def check(name, expect, got, ok):
        nonlocal failed
        failed += not ok
        print(f"{name:<44} expect {expect:<26} got {str(got):<14} {'ok' if ok else 'FAIL'}")

    def forwarded(url, body, sig):
        # Upstream requests during one POST (the status request itself counts 1).
        before = upstream_count(a.upstream_status)
        st, h = post(url, body, sig)
        return st, h, upstream_count(a.upstream_status) - before - 1

    for size in a.sizes.split(","):
        with open(os.path.join(a.payloads, f"body-{size}.json"), "rb") as f:
            body = f.read()
        sig = {k: open(os.path.join(a.payloads, f"sig-{size}.{k}")).read().strip()
               for k in ("valid", "invalid")}
        if a.verify:
            for attempt in ("", " (same again)"):
                st, h, n = forwarded(a.verify, body, sig["valid"])
                check(f"verify {size} valid{attempt}", "2xx, upstream +1",
                      f"{st} +{n}", isinstance(st, int) and 200 <= st < 300 and n == 1
                      and "x-hookwall-duplicate" not in h)
            for what, b, s in (("invalid signature", body, sig["invalid"]),
                               ("missing header", body, None),
                               ("tampered body", body[:-2] + b" }", sig["valid"])):
                st, h, n = forwarded(a.verify, b, s)
                check(f"verify {size} {what}", "401/403, upstream +0", f"{st} +{n}",
                      st in (401, 403) and n == 0)
        if a.replay:
            # A body nobody sent before: the distinct-body layout with a time-based counter.
            n_ = parse_size(size)
            prefix = body_of_size(n_, reserve=10)[: n_ - 12]
            fresh = prefix + b"%010d" % (int(time.time() * 1000) % 10 ** 10) + b'"}'
            s = "sha256=" + hmac.new(secret, fresh, hashlib.sha256).hexdigest()
            st, h, n = forwarded(a.replay, fresh, s)
            check(f"replay {size} fresh body", "2xx, upstream +1", f"{st} +{n}",
                  isinstance(st, int) and 200 <= st < 300 and n == 1)
            st, h, n = forwarded(a.replay, fresh, s)
            dup = h.get("x-hookwall-duplicate")
            check(f"replay {size} same body again", "200 duplicate, upstream +0",
                  f"{st} dup={dup} +{n}", st == 200 and dup == "true" and n == 0)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
