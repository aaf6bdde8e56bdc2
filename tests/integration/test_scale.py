"""Many workers and many API replicas on one Redis and one registry, all real processes on loopback.

3 `python -m worker` processes and 2 `uvicorn app.main:app` processes share a redis-server and a registry
directory. Six small jobs go in through both APIs; two models get two jobs each, so the per-model lock is
exercised as well as parallelism across models. The APIs poll the registry only every 60 s: the swaps
measured here come from the workers' pub/sub notices.
"""

import json
import threading
import time
from datetime import datetime

import httpx
import pytest
from redis import Redis
from rq import Queue, Worker

from models.registry import Registry
from tests.support import ApiProcess, wait_until, worker_process

pytestmark = pytest.mark.integration

WORKERS, APIS = 3, 2
MODELS = ["scale-a", "scale-a", "scale-b", "scale-b", "scale-c", "scale-d"]  # one job each, in order
STEPS, CHECKPOINT_EVERY = 20, 10  # two versions per job
# bench/scale.py measures the swap (a median of 0.07 s); here it only has to be far inside the 60 s poll, so
# that the notices must have made it: on a loaded 2-core CI machine a first load has taken 1.9 s
SWAP_LIMIT_S = 10.0


def _job(model: str, seed: int) -> dict:
    return {"model": model, "dataset": {"kind": "synthetic", "limit": 64}, "architecture": "dcgan",
            "image_size": 16, "channels": 1, "latent_dim": 16, "base_width": 8, "batch_size": 8, "steps": STEPS,
            "checkpoint_every": CHECKPOINT_EVERY, "sample_every": 1000, "ema_decay": 0, "seed": seed}


class Observer(threading.Thread):
    """Asks one API for every model over and over; remembers when it first answered with each version."""

    def __init__(self, url: str, models: list[str]):
        super().__init__(daemon=True)
        self.url, self.models = url, models
        self.first_served: dict[tuple[str, str], float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                for model in self.models:
                    r = client.post("/generate", json={"model": model, "seeds": [1]})
                    if r.status_code == 200:
                        self.first_served.setdefault((model, r.headers["x-model-version"]), time.time())
                self.stop.wait(0.02)

    def served_by(self, model: str, version: str) -> float | None:
        """When this API first answered with `version` or a newer one (a newer one supersedes it)."""
        times = [t for (m, v), t in self.first_served.items() if m == model and int(v) >= int(version)]
        return min(times) if times else None


@pytest.fixture
def cluster(tmp_path, redis_server):
    registry = tmp_path / "registry"
    queue = f"scale-{tmp_path.name}"
    common = {"GAN_REGISTRY_DIR": str(registry), "GAN_REDIS_URL": redis_server.url, "GAN_TORCH_THREADS": "1",
              "OMP_WAIT_POLICY": "PASSIVE"}
    workers = [worker_process({**common, "GAN_QUEUES": queue, "GAN_PROGRESS_EVERY_S": "0.5"},
                              tmp_path / f"worker-{i}.log") for i in range(WORKERS)]
    # the cache holds every model: with fewer slots than models each observer request would reload one,
    # and the probe of each load (app/serving/prepare.py) would be timed instead of the swap
    apis = [ApiProcess({**common, "GAN_QUEUES": queue, "GAN_WATCH_INTERVAL_S": "60", "GAN_CACHE_SIZE": "8",
                        "GAN_SHIPPED_REGISTRY_DIR": str(tmp_path / "none")}, tmp_path / f"api-{i}.log")
            for i in range(APIS)]
    try:
        for api in apis:  # start all, then wait: the processes boot side by side
            api.start()
        for api in apis:
            api.wait_ready()
        redis = Redis.from_url(redis_server.url)
        wait_until(lambda: len(Worker.all(queue=Queue(queue, connection=redis))) == WORKERS, 60, what="3 workers")
        for api in apis:
            wait_until(lambda: httpx.get(f"{api.url}/readyz").json()["version_notifications"]["subscribed"], 30,
                       what="the API to subscribe")
        yield apis, Registry(registry), [tmp_path / f"worker-{i}.log" for i in range(WORKERS)]
    finally:
        for api in apis:
            api.__exit__()
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(20)


def test_six_jobs_on_three_workers_run_once_and_both_replicas_swap_promptly(cluster):
    apis, registry, worker_logs = cluster
    observers = [Observer(api.url, sorted(set(MODELS))) for api in apis]
    for o in observers:
        o.start()
    clients = [api.client() for api in apis]
    job_ids = [clients[i % APIS].post("/train", json=_job(model, i)).json()["id"] for i, model in enumerate(MODELS)]

    def all_done():
        jobs = [clients[0].get(f"/train/{j}").json() for j in job_ids]
        failed = [j for j in jobs if j["status"] == "failed"]
        assert not failed, (failed, [p.read_text()[-2000:] for p in worker_logs])
        return jobs if all(j["status"] == "finished" for j in jobs) else None

    jobs = wait_until(all_done, 240, interval=0.5, what="six training jobs")

    # each job ran exactly once: one attempt, one "Job OK" across all workers' logs
    logs = "".join(p.read_text() for p in worker_logs)
    for job in jobs:
        assert job["attempts"] == 1
        assert logs.count(f"Job OK ({job['id']})") == 1
    assert len({job["worker"] for job in jobs}) >= 2, "the jobs were spread over several workers"
    span = {job["id"]: (datetime.fromisoformat(job["started_at"]), datetime.fromisoformat(job["ended_at"]))
            for job in jobs}
    assert any(a["model"] != b["model"] and span[a["id"]][0] < span[b["id"]][1] and span[b["id"]][0] < span[a["id"]][1]
               for a in jobs for b in jobs), "jobs on different models ran at the same time"

    # every version is unique, numbered without gaps, and records the job that published it
    by_model: dict[str, list[dict]] = {}
    for job in jobs:
        assert len(job["versions"]) == STEPS // CHECKPOINT_EVERY
        by_model.setdefault(job["model"], []).append(job)
    for model, model_jobs in by_model.items():
        published = sorted(v for job in model_jobs for v in job["versions"])
        assert published == registry.versions(model) == [f"{n:06d}" for n in range(1, len(published) + 1)]
        for job in model_jobs:
            for version in job["versions"]:
                metadata = json.loads((registry.path(model, version) / "metadata.json").read_text())
                assert metadata["job_id"] == job["id"]
            # two jobs on one model take turns whole: one job's versions are consecutive numbers
            numbers = [int(v) for v in job["versions"]]
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))

    # both replicas heard of every version and served it long before their next poll (the directory's mtime
    # is when its last file was written, just before the rename: a conservative start)
    landed = {(m, v): (registry.path(m, v)).stat().st_mtime for m in by_model for v in registry.versions(m)}

    def every_version_served():
        return all(o.served_by(m, v) is not None for o in observers for (m, v) in landed)

    wait_until(every_version_served, 10, what="both APIs to serve every version")
    for o in observers:
        o.stop.set()
    latencies = {(api.url, m, v): o.served_by(m, v) - t for api, o in zip(apis, observers) for (m, v), t in landed.items()}
    slow = {k: round(s, 3) for k, s in latencies.items() if s > SWAP_LIMIT_S}
    assert not slow, f"served more than {SWAP_LIMIT_S}s after landing: {slow}"
    for c in clients:
        notices = c.get("/readyz").json()["version_notifications"]["received"]
        assert notices >= len(landed), f"{notices} version notices for {len(landed)} versions"
    for c in clients:
        c.close()
