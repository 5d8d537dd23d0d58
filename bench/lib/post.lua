-- wrk script: POST one fixed body with one fixed X-Hub-Signature-256 on every request, as
-- ../shared/bench/lib/post.lua does (same headers), so figures compare with the peer harness.
-- env: BODY_FILE (the raw body), SIGNATURE ("sha256=..."; empty: no header), URL_PATH (optional).
-- done() prints one WRKRESULT line (parsed by record.py); wrk's status errors
-- (summary.errors.status) are responses with status > 399: the non-2xx count.
local function slurp(path)
    local f = assert(io.open(path, "rb"), "cannot open BODY_FILE")
    local s = f:read("*a")
    f:close()
    return s
end

wrk.method = "POST"
wrk.body = slurp(assert(os.getenv("BODY_FILE"), "BODY_FILE unset"))
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "GitHub-Hookshot/bench"
wrk.headers["X-GitHub-Event"] = "push"
wrk.headers["X-GitHub-Delivery"] = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
local sig = os.getenv("SIGNATURE")
if sig ~= nil and sig ~= "" then
    wrk.headers["X-Hub-Signature-256"] = sig
end
local path = os.getenv("URL_PATH")
if path ~= nil and path ~= "" then
    wrk.path = path
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "WRKRESULT requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d "
        .. "status=%d timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f\n",
        summary.requests, summary.duration, summary.bytes,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency.max, latency.mean))
end
