"""A worker killed with SIGKILL mid-job: RQ retries the job and it resumes from its last checkpoint.

Real redis-server, real `python -m worker` processes, real HTTP. Two ways to die: the work horse (the forked
process running the job) and the worker's parent process (which keeps the job's heartbeat).
"""

import os
import signal
import subprocess
import sys

import pytest
from rq.job import Job
from redis import Redis

from app.main import create_app
from models.checkpoint import read_metadata
from models.registry import Registry
from tests.conftest import make_settings
from tests.support import REPO_ROOT, LiveServer, process_running, wait_until

pytestmark = pytest.mark.integration

STEPS, EVERY = 240, 60
JOB = {"model": "phoenix", "dataset": {"kind": "synthetic", "limit": 64}, "architecture": "dcgan",
       "image_size": 16, "channels": 1, "batch_size": 8, "base_width": 8, "steps": STEPS,
       "checkpoint_every": EVERY, "sample_every": 100_000, "seed": 0}


class Workers:
    """`python -m worker` processes, each in its own session so the test can clean up all it started."""

    def __init__(self, env: dict[str, str], log_dir):
        self.env, self.log_dir, self.processes = env, log_dir, []

    def start(self) -> subprocess.Popen:
        log = open(self.log_dir / f"worker-{len(self.processes)}.log", "ab")
        process = subprocess.Popen([sys.executable, "-m", "worker"], cwd=REPO_ROOT, env={**os.environ, **self.env},
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(p.read_text()[-2000:] for p in sorted(self.log_dir.glob("worker-*.log")))

    def stop_all(self) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(10)


@pytest.fixture
def stack(tmp_path, redis_server):
    registry = tmp_path / "registry"
    queue = f"training-{tmp_path.name}"
    env = {"GAN_REGISTRY_DIR": str(registry), "GAN_REDIS_URL": redis_server.url, "GAN_QUEUES": queue,
           "GAN_PROGRESS_EVERY_S": "0.1", "GAN_TORCH_THREADS": "1",
           # recovery in seconds rather than RQ's minutes
           "GAN_HEARTBEAT_INTERVAL_S": "1"}
    workers = Workers(env, tmp_path)
    settings = make_settings(registry, redis_server.url, queues=queue, job_retries=2)
    try:
        with LiveServer(create_app(settings, inference_in_process=True)) as server, server.client() as client:
            yield client, workers, Registry(registry), Redis.from_url(redis_server.url)
    finally:
        workers.stop_all()


def _running_with_a_checkpoint(client, redis, job_id):
    def ready():
        status = client.get(f"/train/{job_id}").json()
        assert status["status"] not in ("failed", "finished"), status
        return status["status"] == "started" and status["versions"] and status["progress"]["step"] < STEPS - EVERY
    wait_until(ready, 120, interval=0.05, what="the job's first checkpoint")
    return Job.fetch(job_id, connection=redis).get_meta(refresh=True)["pid"]


def _finished(client, workers, job_id):
    def done():
        status = client.get(f"/train/{job_id}").json()
        assert status["status"] != "failed", (status, workers.logs())
        return status if status["status"] == "finished" else None
    return wait_until(done, 240, interval=0.3, what="the retried job to finish")


def _assert_resumed_and_complete(status, registry):
    assert status["attempts"] == 2
    assert status["resumed_from_step"] >= EVERY  # from a checkpoint, not from scratch
    assert status["progress"]["step"] == STEPS
    steps = [read_metadata(registry.path("phoenix", v))["step"] for v in status["versions"]]
    assert steps == sorted(steps) and steps[-1] == STEPS
    # the first version after the retry continues the count from the checkpoint it resumed
    after = [s for s in steps if s > status["resumed_from_step"]]
    assert after[0] == status["resumed_from_step"] + EVERY


def test_a_killed_work_horse_is_retried_by_its_worker_and_resumes(stack):
    client, workers, registry, redis = stack
    worker = workers.start()
    job_id = client.post("/train", json=JOB).json()["id"]
    horse = _running_with_a_checkpoint(client, redis, job_id)
    assert horse != worker.pid
    os.kill(horse, signal.SIGKILL)

    status = _finished(client, workers, job_id)
    _assert_resumed_and_complete(status, registry)
    assert worker.poll() is None  # the same worker retried it
    assert Job.fetch(job_id, connection=redis).retries_left == 1


def test_a_killed_worker_takes_its_work_horse_along_and_another_worker_resumes_the_job(stack):
    client, workers, registry, redis = stack
    first = workers.start()
    job_id = client.post("/train", json=JOB).json()["id"]
    horse = _running_with_a_checkpoint(client, redis, job_id)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    # no orphan goes on training beside the retry
    wait_until(lambda: not process_running(horse), 10, what="the orphaned work horse to die")

    workers.start()  # finds the abandoned job in its maintenance pass and retries it
    status = _finished(client, workers, job_id)
    _assert_resumed_and_complete(status, registry)


def test_a_worker_killed_while_writing_a_checkpoint_leaves_no_half_written_version(stack):
    from models.checkpoint import load_generator

    client, workers, registry, redis = stack
    workers.start()
    # large enough checkpoints that writing one takes a while, and one every few steps; no scoring between them
    job = {**JOB, "model": "midwrite", "image_size": 64, "base_width": 32, "batch_size": 4, "steps": 30,
           "checkpoint_every": 3, "eval_samples": 0}
    job_id = client.post("/train", json=job).json()["id"]
    model_dir = registry.root / "midwrite"

    def horse_writing():
        meta = Job.fetch(job_id, connection=redis).get_meta(refresh=True)
        if "pid" not in meta or not model_dir.is_dir():
            return None
        debris = [p for p in model_dir.iterdir() if p.name.startswith(".tmp-") and f"-{meta['pid']}-" in p.name]
        return (meta["pid"], debris[0]) if debris else None
    horse, debris = wait_until(horse_writing, 120, interval=0.002, what="a checkpoint being written")
    os.kill(horse, signal.SIGKILL)

    assert debris.exists()  # the dead writer's temporary directory...
    for version in registry.versions("midwrite"):  # ...is not a version; every version is whole
        load_generator(registry.path("midwrite", version))
    details = client.get("/models/midwrite").json()["version_details"] if registry.versions("midwrite") else {}
    assert all(d["valid"] for d in details.values()), details

    status = _finished(client, workers, job_id)  # the same worker retries; the retry clears the debris
    assert not debris.exists()
    assert not [p for p in model_dir.iterdir() if p.name.startswith(".tmp-")]
    assert status["attempts"] == 2 and status["progress"]["step"] == 30
    for version in registry.versions("midwrite"):
        load_generator(registry.path("midwrite", version))
