"""HTTP load from wrk, a load generator written in C, so that the client costs the two cores little.

A Python client spends more CPU per request than the server under test does and capped the figures at its
own speed (about 500 requests/s); wrk's one thread serves tens of thousands. `{n}` in a path or body is
replaced by a number unique to each request (fresh seeds: no cache answers them). Install wrk with
`apt-get install wrk`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

# one Lua state per wrk thread; `request` builds each request, `done` prints the run as one JSON line
SCRIPT = """
local method, has_body = "{method}", {has_body}
local headers = {{["Content-Type"] = "application/json"}}
local threads, counter = 0, 0

function setup(thread)
  thread:set("base", {first} + threads * 100000000)
  threads = threads + 1
end

function request()
  counter = counter + 1
  local n = base + counter
  if has_body then
    return wrk.format(method, {path}, headers, {body})
  end
  return wrk.format(method, {path})
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{{"requests": %d, "duration_us": %d, "errors": %d, "non_2xx": %d, "p50_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _lua(template: str) -> str:
    """A Lua expression of `template` with `{n}` replaced by the request's number `n`."""
    return " .. n .. ".join(f"[==[{part}]==]" for part in template.split("{n}"))


def run(url: str, path: str, connections: int, seconds: float, body: str | None = None,
        warmup_s: float = 1.0) -> dict:
    """Requests/s and latency of `connections` closed-loop clients on `url + path` (POST when `body` is given),
    after `warmup_s` of the same load that is not counted."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    first = int(time.time() * 1000) % 10**9 * 1000  # fresh numbers on every run
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(SCRIPT.format(path=_lua(path), body=_lua(body or ""), method="POST" if body is not None else "GET",
                              has_body="true" if body is not None else "false", first=first))
    script = Path(f.name)
    try:
        result = {}
        for duration in ([warmup_s] if warmup_s > 0 else []) + [seconds]:
            out = subprocess.run([binary, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s",
                                  "--timeout", "30s", "-s", str(script), url],
                                 capture_output=True, text=True, timeout=duration + 60, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        script.unlink()
    if result["errors"] or result["non_2xx"]:
        raise RuntimeError(f"{result['errors']} failed and {result['non_2xx']} non-2xx answers from {url}{path}")
    return {"per_s": result["requests"] / (result["duration_us"] / 1e6), "requests": result["requests"],
            "p50_ms": result["p50_us"] / 1000, "p99_ms": result["p99_us"] / 1000, "connections": connections}
