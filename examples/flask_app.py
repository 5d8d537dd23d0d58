#!/usr/bin/env python3
"""A legacy webhook receiver of the kind hookwall is put in front of.

This app is deliberately insecure on its own: it checks no signature at all. Anyone who
learns its URL can POST a forged "push" or "payment" event and it will act on it. Apps
like this often grow a half-fix instead: a signature computed over re-encoded JSON rather
than the bytes received, a `==` compare that leaks timing, or a hard-coded fallback such as
`os.environ.get("WEBHOOK_SECRET", "super-secret-key")` that anyone can read in a tutorial.

hookwall fronts it: the app listens on 127.0.0.1 only, hookwall verifies each request's
signature on the exact bytes received and forwards only the verified ones, byte for byte,
adding `X-Hookwall-Verified`. The app itself needs no change.

It answers every webhook with JSON describing what it received (size and SHA-256 of the
body, the raw target, the header hookwall adds), and `GET /_count` tells how many webhook
requests reached it, so a test can prove a rejected request never got here.

Usage: python examples/flask_app.py [--host 127.0.0.1] [--port 5000] [--quiet]
With --port 0 it binds a free port. Once bound it prints exactly one line to stdout,
`listening on HOST:PORT`.
"""

import argparse
import hashlib
import logging
import sys
import threading

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

app = Flask(__name__)

_count_lock = threading.Lock()
_count = 0

WEBHOOK_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _handle(route):
    """Answers one webhook the way the legacy app does: no checks, just "processed"."""
    global _count
    with _count_lock:
        _count += 1
    body = request.get_data(cache=False)
    return (
        jsonify(
            status="processed",
            route=route,
            method=request.method,
            raw_uri=request.environ.get("REQUEST_URI") or request.full_path,
            bytes=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            content_length=request.headers.get("Content-Length"),
            verified_by=request.headers.get("X-Hookwall-Verified"),
            delivery_id=request.headers.get("X-Hookwall-Delivery-Id"),
            forwarded_for=request.headers.get("X-Forwarded-For"),
        ),
        200,
    )


@app.route("/webhooks/github", methods=["POST"])
def github_webhook():
    # VULNERABLE without hookwall: X-Hub-Signature-256 is never looked at.
    return _handle("github")


@app.route("/webhooks/custom", methods=["POST"])
def custom_webhook():
    # VULNERABLE without hookwall: X-Signature and X-Timestamp are never looked at.
    return _handle("custom")


@app.route("/hooks/", defaults={"rest": ""}, methods=WEBHOOK_METHODS)
@app.route("/hooks/<path:rest>", methods=WEBHOOK_METHODS)
def other_hooks(rest):
    return _handle("hooks")


@app.route("/_count", methods=["GET"])
def count():
    with _count_lock:
        n = _count
    return jsonify(count=n)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to bind; 0 picks a free one (default: 5000)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request to stderr")
    args = parser.parse_args(argv)

    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

    server = make_server(args.host, args.port, app, threaded=True)
    print(f"listening on {args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
