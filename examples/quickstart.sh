#!/usr/bin/env bash
# Quick start: the legacy Flask app (examples/flask_app.py) on 127.0.0.1:5000, and hookwall
# in front of it on 127.0.0.1:8080 with proxy.toml.example. Ctrl-C stops both.
#
#   bash examples/quickstart.sh
#
# Demo secrets are used unless GITHUB_WEBHOOK_SECRET / CUSTOM_WEBHOOK_SECRET are already set.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import flask' 2>/dev/null; then
  echo "quickstart: creating .venv with Flask"
  python3 -m venv .venv
  .venv/bin/pip install -q -r examples/requirements.txt
fi

demo=()
if [ -z "${GITHUB_WEBHOOK_SECRET:-}" ]; then
  export GITHUB_WEBHOOK_SECRET=demo-github-secret-4f9a2c
  demo+=("GITHUB_WEBHOOK_SECRET=$GITHUB_WEBHOOK_SECRET")
fi
if [ -z "${CUSTOM_WEBHOOK_SECRET:-}" ]; then
  export CUSTOM_WEBHOOK_SECRET=demo-custom-secret-8b3e1d
  demo+=("CUSTOM_WEBHOOK_SECRET=$CUSTOM_WEBHOOK_SECRET")
fi

echo "quickstart: building hookwall (release)"
cargo build --release --quiet

flask_out=$(mktemp)
flask_pid=
cleanup() {
  if [ -n "$flask_pid" ]; then
    kill "$flask_pid" 2>/dev/null || true
    wait "$flask_pid" 2>/dev/null || true
  fi
  rm -f "$flask_out"
}
trap cleanup EXIT

# The venv's python is the interpreter itself, so $! is the app's own PID.
.venv/bin/python examples/flask_app.py --host 127.0.0.1 --port 5000 >"$flask_out" &
flask_pid=$!
for _ in $(seq 100); do
  grep -q '^listening on ' "$flask_out" && break
  if ! kill -0 "$flask_pid" 2>/dev/null; then
    echo "quickstart: the Flask app did not start (is port 5000 taken?)" >&2
    exit 1
  fi
  sleep 0.1
done
if ! grep -q '^listening on ' "$flask_out"; then
  echo "quickstart: the Flask app did not report its port within 10 s" >&2
  exit 1
fi
echo "quickstart: Flask app (unprotected) $(cat "$flask_out") (pid $flask_pid)"

echo
echo "hookwall is starting on 127.0.0.1:8080. Try it from another terminal, in this folder:"
echo
if [ ${#demo[@]} -gt 0 ]; then
  echo "  export ${demo[*]}"
else
  echo "  # (with the same GITHUB_WEBHOOK_SECRET as this shell)"
fi
cat <<'MSG'

  # signed with `hookwall sign`: forwarded to Flask, 200 with "verified_by": "github"
  target/release/hookwall sign --provider github --secret-env GITHUB_WEBHOOK_SECRET < examples/payload.json \
    | curl -si -H @- -H 'Content-Type: application/json' --data-binary @examples/payload.json \
        http://127.0.0.1:8080/webhooks/github

  # unsigned: hookwall answers 401 and Flask never sees it
  curl -si -H 'Content-Type: application/json' --data-binary @examples/payload.json \
    http://127.0.0.1:8080/webhooks/github

  # how many webhooks reached Flask (asked of the app directly, for the demo)
  curl -s http://127.0.0.1:5000/_count

MSG

cargo run --release --quiet -- --config proxy.toml.example
