"""Scaling figures with real processes: training jobs per minute with 1, 2 and 4 workers, and hot-swap latency
(version landed -> first answer from it) on two API replicas, with pub/sub notifications on and off.

    python -m bench.scale                      # both parts
    python -m bench.scale --part throughput --workers 1 2 4 --jobs 8
    python -m bench.scale --part swap --versions 8

Starts its own redis-server, `python -m worker` and `uvicorn app.main:app` processes on loopback and a
throwaway registry; prints a Markdown table per part. Every worker runs with GAN_TORCH_THREADS=1, so N
workers want N cores.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
from redis import Redis
from rq import Queue, Worker

from app.jobs import JobQueue
from models.registry import Registry
from models.spec import TrainSpec
from tests.support import ApiProcess, RedisServer, wait_until, worker_process

THROUGHPUT_JOB = {"dataset": {"kind": "synthetic", "limit": 64}, "architecture": "dcgan", "image_size": 16,
                  "channels": 1, "latent_dim": 16, "base_width": 8, "batch_size": 8, "steps": 50,
                  "checkpoint_every": 50, "sample_every": 1000, "ema_decay": 0}
# a slower job, so versions land about a second or more apart and each swap is measured on its own
SWAP_JOB = {"dataset": {"kind": "synthetic", "limit": 256}, "architecture": "dcgan", "image_size": 32,
            "channels": 1, "latent_dim": 32, "base_width": 16, "batch_size": 32, "sample_every": 100_000,
            "ema_decay": 0}


def _env(registry: Path, redis_url: str) -> dict[str, str]:
    return {"GAN_REGISTRY_DIR": str(registry), "GAN_REDIS_URL": redis_url, "GAN_TORCH_THREADS": "1",
            "OMP_WAIT_POLICY": "PASSIVE", "GAN_SHIPPED_REGISTRY_DIR": str(registry / ".none")}


def _start_workers(count: int, env: dict[str, str], queue: str, logs: Path, redis: Redis) -> list:
    workers = [worker_process({**env, "GAN_QUEUES": queue, "GAN_PROGRESS_EVERY_S": "5"}, logs / f"worker-{i}.log")
               for i in range(count)]
    wait_until(lambda: len(Worker.all(queue=Queue(queue, connection=redis))) == count, 60, what="workers")
    return workers


def _stop(processes: list) -> None:
    for p in processes:
        p.terminate()
    for p in processes:
        p.wait(30)


def _duration(job: dict) -> float:
    return (datetime.fromisoformat(job["ended_at"]) - datetime.fromisoformat(job["started_at"])).total_seconds()


def throughput(workers: int, jobs: int, work: Path, redis_url: str) -> dict[str, float]:
    """Jobs completed per minute: `jobs` jobs on distinct models, from the first enqueue to the last finish."""
    registry, queue = work / f"registry-{workers}w", f"bench-{workers}w"
    redis = Redis.from_url(redis_url)
    procs = _start_workers(workers, _env(registry, redis_url), queue, work, redis)
    try:
        client = JobQueue(redis_url, [queue], job_timeout_s=3600, retries=0)
        started = time.monotonic()
        ids = [client.submit(TrainSpec.model_validate({**THROUGHPUT_JOB, "model": f"tp-{workers}w-{i}", "seed": i}))
               for i in range(jobs)]

        def finished():
            states = [client.status(i) for i in ids]
            if any(s["status"] == "failed" for s in states):
                raise RuntimeError(f"a job failed: {[s['error'] for s in states if s['error']]}")
            return states if all(s["status"] == "finished" for s in states) else None

        states = wait_until(finished, 1800, interval=0.2, what="the jobs")
        elapsed = time.monotonic() - started
    finally:
        _stop(procs)
    return {"workers": workers, "jobs": jobs, "elapsed_s": elapsed, "jobs_per_min": jobs / elapsed * 60,
            "median_job_s": statistics.median(_duration(s) for s in states)}


class Observer(threading.Thread):
    """Asks one replica for the model as fast as it answers; remembers when each version first came back."""

    def __init__(self, url: str, model: str):
        super().__init__(daemon=True)
        self.url, self.model = url, model
        self.first: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                r = client.post("/generate", json={"model": self.model, "seeds": [1]})
                if r.status_code == 200:
                    self.first.setdefault(r.headers["x-model-version"], time.time())
                self.stop.wait(0.005)

    def served_by(self, version: str) -> float | None:
        times = [t for v, t in self.first.items() if int(v) >= int(version)]
        return min(times) if times else None


def swap_latency(notifications: bool, versions: int, work: Path, redis_url: str, replicas: int = 2,
                 watch_interval_s: float = 1.0) -> dict[str, float]:
    """Landed (the version directory's mtime, a conservative start) -> first answer with it, every replica."""
    tag = "pubsub" if notifications else "polling"
    registry, queue, model = work / f"registry-{tag}", f"bench-{tag}", f"swap-{tag}"
    env = _env(registry, redis_url)
    redis = Redis.from_url(redis_url)
    api_env = {**env, "GAN_QUEUES": queue, "GAN_WATCH_INTERVAL_S": str(watch_interval_s)}
    if not notifications:  # no Redis for the replicas: they hear no notices and swap by polling alone
        api_env["GAN_REDIS_URL"] = "redis://127.0.0.1:1/0"
    apis = [ApiProcess(api_env, work / f"api-{tag}-{i}.log") for i in range(replicas)]
    procs = []
    try:
        for api in apis:
            api.__enter__()
        procs = _start_workers(1, env, queue, work, redis)
        # the first version brings the model into use on every replica; the swaps to the others are measured
        steps_between = 60
        spec = TrainSpec.model_validate({**SWAP_JOB, "model": model, "steps": steps_between * (versions + 1),
                                         "checkpoint_every": steps_between})
        job_id = JobQueue(redis_url, [queue], 3600, 0).submit(spec)
        wait_until(lambda: Registry(registry).versions(model), 300, what="the first version")
        observers = [Observer(api.url, model) for api in apis]
        for o in observers:
            o.start()
        wait_until(lambda: JobQueue(redis_url, [queue], 3600, 0).status(job_id)["status"] in ("finished", "failed"),
                   900, interval=0.5, what="the swap job")
        landed = {v: Registry(registry).path(model, v).stat().st_mtime for v in Registry(registry).versions(model)}
        last = max(landed)
        wait_until(lambda: all(o.served_by(last) for o in observers), 30, what="every replica to serve the last")
        for o in observers:
            o.stop.set()
        first_seen = min(min(o.first) for o in observers)
        measured = {v: t for v, t in landed.items() if int(v) > int(first_seen)}  # landed while observed
        latencies = [o.served_by(v) - t for o in observers for v, t in measured.items()]
    finally:
        _stop(procs)
        for api in apis:
            api.__exit__()
    return {"mode": "pub/sub + polling" if notifications else "polling only", "watch_interval_s": watch_interval_s,
            "replicas": replicas, "swaps": len(latencies), "median_s": statistics.median(latencies),
            "max_s": max(latencies), "min_s": min(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["throughput", "swap", "all"], default="all")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--versions", type=int, default=6, help="swaps measured per mode")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gan-bench-") as tmp:
        work = Path(tmp)
        redis = RedisServer(work)
        redis.start()
        try:
            if args.part in ("throughput", "all"):
                rows = [throughput(n, args.jobs, work, redis.url) for n in args.workers]
                base = rows[0]["jobs_per_min"]
                print("| workers | jobs | wall s | jobs/min | speed-up | median job s |\n|---|---|---|---|---|---|")
                for r in rows:
                    print(f"| {r['workers']} | {r['jobs']} | {r['elapsed_s']:.1f} | {r['jobs_per_min']:.1f} | "
                          f"{r['jobs_per_min'] / base:.2f}x | {r['median_job_s']:.1f} |", flush=True)
            if args.part in ("swap", "all"):
                rows = [swap_latency(on, args.versions, work, redis.url) for on in (True, False)]
                print("\n| mode | poll interval s | replicas | swaps measured | median s | min s | max s |\n"
                      "|---|---|---|---|---|---|---|")
                for r in rows:
                    print(f"| {r['mode']} | {r['watch_interval_s']} | {r['replicas']} | {r['swaps']} | "
                          f"{r['median_s']:.3f} | {r['min_s']:.3f} | {r['max_s']:.3f} |", flush=True)
        finally:
            redis.stop()


if __name__ == "__main__":
    main()
