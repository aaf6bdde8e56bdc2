"""A paced HTTP load generator, run as its own process: N clients, each one request at a time.

For latency at a trickle of requests (bench/colocated.py); throughput figures come from wrk (bench/wrk.py), as
a Python client spends more CPU per request than the server under test. It speaks just enough HTTP/1.1 over
asyncio streams (GET, keep-alive, Content-Length bodies) to cost the machine little.

    python -m bench.loadgen --port 8000 --path '/models/m/seeds/{n}.png' --clients 32 --seconds 5 [--rate 10]
prints one JSON object: requests, errors, requests/s, latency percentiles (ms) and the client's CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import statistics
import sys
import time


async def _client(port: int, path: str, counter, start: float, stop: float, latencies: list[float],
                  errors: list[str], answered: list[int], interval: float = 0.0) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    due = time.perf_counter()
    try:
        while (now := time.perf_counter()) < stop:
            if interval:  # paced: one request every `interval` seconds, as a steady trickle of users
                due += interval
                if due > now:
                    await asyncio.sleep(due - now)
                    now = time.perf_counter()
            request = f"GET {path.format(n=next(counter))} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            done = time.perf_counter()
            answered[0] += 1
            if now >= start:  # requests begun in the warm-up are not counted
                if not head.startswith(b"HTTP/1.1 200"):
                    errors.append(head.split(b"\r\n")[0].decode())
                latencies.append(done - now)
    finally:
        writer.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run(port: int, path: str, clients: int, seconds: float, warmup: float, rate: float = 0.0) -> dict:
    counter = itertools.count(1_000_000 * int(time.time() % 1000))  # fresh seeds: no cache hits
    begin = time.perf_counter()
    start, stop = begin + warmup, begin + warmup + seconds
    latencies: list[float] = []
    errors: list[str] = []
    answered = [0]  # warm-up included: the server's CPU time is measured over the whole run
    interval = clients / rate if rate else 0.0
    await asyncio.gather(*(_client(port, path, counter, start, stop, latencies, errors, answered, interval)
                           for _ in range(clients)))
    window = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    ms = [x * 1000 for x in latencies]
    return {"clients": clients, "requests": len(ms), "answered_in_all": answered[0], "errors": len(errors),
            "first_error": errors[:1], "per_s": len(ms) / window, "p50_ms": percentile(ms, 0.5),
            "p95_ms": percentile(ms, 0.95), "p99_ms": percentile(ms, 0.99),
            "mean_ms": statistics.fmean(ms) if ms else float("nan"),
            "cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": time.perf_counter() - begin}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True, help="'{n}' is replaced by a number unique to each request")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s in all (paced); 0: as fast as answered")
    args = parser.parse_args(argv)
    try:
        from uvloop import run as run_loop
    except ImportError:
        run_loop = asyncio.run
    print(json.dumps(run_loop(run(args.port, args.path, args.clients, args.seconds, args.warmup, args.rate))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
