"""What the request middleware (request id, access log line, per-endpoint metrics) costs per request.

    python -m bench.observability 2>/dev/null            # 400 requests per endpoint and variant
    python -m bench.observability --requests 1000 2>/dev/null

Serves the shipped default from two apps in this process, one with app.metrics.RequestMiddleware and one
without, and sends the same requests to both alternately (A, B, B, A, A, B...), so that load on the machine
and warm caches favour neither. JSON logs at INFO, as in the containers; stderr (the log lines) is best
sent to /dev/null.
Prints a Markdown table of median and 90th-percentile latencies, and the time of one /metrics scrape.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from app.main import create_app
from app.metrics import RequestMiddleware
from app.settings import Settings
from tests.support import LiveServer

ENDPOINTS = {
    "GET /healthz": ("GET", "/healthz", None),
    "GET /models/{name}/seeds/{seed}.png": ("GET", "/models/fashion-cdcgan/seeds/{i}.png?label=Bag", None),
    "POST /generate (8 seeds)": ("POST", "/generate", {"model": "fashion-cdcgan", "seeds": [1, 2, 3, 4, 5, 6, 7, 8],
                                                       "labels": ["Sneaker"]}),
}


def make_app(with_middleware: bool):
    settings = Settings(registry_dir=Path(tempfile.mkdtemp()), redis_url="redis://127.0.0.1:1/0",
                        log_format="json", torch_threads=1)
    app = create_app(settings)
    if not with_middleware:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not RequestMiddleware]
    return app


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    with LiveServer(make_app(True)) as on, LiveServer(make_app(False)) as off, \
            on.client() as client_on, off.client() as client_off:
        rows = []
        for name, (method, path, body) in ENDPOINTS.items():
            times: dict[str, list[float]] = {"on": [], "off": []}
            for i in range(args.requests + 20):
                pair = [("on", client_on), ("off", client_off)]
                for variant, client in (pair if i % 2 else pair[::-1]):  # neither always goes first
                    start = time.perf_counter()
                    r = client.request(method, path.format(i=i % 50), json=body)
                    elapsed = time.perf_counter() - start
                    assert r.status_code == 200, r.text
                    if i >= 20:  # the first ones load the generator and warm caches
                        times[variant].append(elapsed * 1000)
            m_on, m_off = statistics.median(times["on"]), statistics.median(times["off"])
            rows.append(f"| {name} | {m_off:.2f} | {m_on:.2f} | {m_on - m_off:+.2f} | "
                        f"{percentile(times['off'], 0.9):.2f} | {percentile(times['on'], 0.9):.2f} |")
        scrapes = []
        for _ in range(50):
            start = time.perf_counter()
            client_on.get("/metrics").raise_for_status()
            scrapes.append((time.perf_counter() - start) * 1000)
    print(f"{args.requests} requests per endpoint and variant, alternating, each first in half of the pairs\n")
    print("| endpoint | median without (ms) | median with (ms) | difference (ms) | p90 without | p90 with |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nGET /metrics (Redis unreachable, so without the job figures): median {statistics.median(scrapes):.2f} ms")


if __name__ == "__main__":
    main()
