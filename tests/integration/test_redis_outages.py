"""A running job and its worker outlive Redis outages: real redis-server, real `python -m worker`, real HTTP.

The job trains while Redis is paused (SIGSTOP: connections hang) or dead (SIGKILL: connections refused),
reports again once it is back, finishes every step and publishes every version; the worker lives on and
takes the next job. Restarted with its append-only file Redis still knows the job; restarted empty it is
told again by the job itself, and a job Redis has forgotten is answered with where its versions are.
"""

import contextlib
import json
import time
from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Worker

from tests.conftest import make_app
from tests.support import LiveServer, RedisServer, wait_for_job, wait_until, worker_process

pytestmark = pytest.mark.integration

OUTAGE_S = 5
STEPS, EVERY = 2000, 400
JOB = {"model": "outlast", "dataset": {"kind": "synthetic", "limit": 64}, "architecture": "dcgan",
       "image_size": 16, "channels": 1, "batch_size": 8, "base_width": 8, "steps": STEPS,
       "checkpoint_every": EVERY, "sample_every": 100_000, "eval_samples": 0}
VERSIONS = [f"{i:06d}" for i in range(1, STEPS // EVERY + 1)]


class Stack:
    def __init__(self, redis: RedisServer, client, worker, tmp_path):
        self.redis, self.client, self.worker, self.tmp_path = redis, client, worker, tmp_path
        self.registry = tmp_path / "registry"

    @property
    def worker_log(self):
        return self.tmp_path / "worker.log"

    def last_step_on_disk(self, job_id: str) -> int:
        """The job's progress as its files show it: they are written whatever Redis does."""
        try:
            lines = (self.registry / ".jobs" / job_id / "metrics.jsonl").read_text().splitlines()
        except FileNotFoundError:
            return 0
        return max((json.loads(line)["step"] for line in lines if line.strip()), default=0)

    def start_job(self, body=JOB) -> str:
        job = self.client.post("/train", json=body).json()["id"]
        wait_until(lambda: self.last_step_on_disk(job) > 0, 60, interval=0.1, what="training to start")
        return job

    def outage(self, job: str, begin, end) -> int:
        """Steps trained while Redis was away."""
        before = self.last_step_on_disk(job)
        begin()
        time.sleep(OUTAGE_S)
        during = self.last_step_on_disk(job) - before
        end()
        return during

    def assert_worker_alive(self) -> None:
        assert self.worker.poll() is None, self.worker_log.read_text()[-3000:]


def _stack(tmp_path, durable: bool):
    directory = tmp_path / "redis"
    directory.mkdir()
    redis = RedisServer(directory, durable=durable)
    redis.start()
    registry = tmp_path / "registry"
    # a heartbeat allowance of three intervals (18 s) outlasts the outages: the job is never taken for dead
    env = {"GAN_REGISTRY_DIR": str(registry), "GAN_REDIS_URL": redis.url, "GAN_QUEUES": "outages",
           "GAN_PROGRESS_EVERY_S": "0.2", "GAN_TORCH_THREADS": "1", "GAN_HEARTBEAT_INTERVAL_S": "6"}
    worker = worker_process(env, tmp_path / "worker.log")
    return redis, worker, LiveServer(make_app(registry, redis.url, queues="outages"))


@contextlib.contextmanager
def _running(tmp_path, durable: bool) -> Iterator[Stack]:
    redis, worker, server = _stack(tmp_path, durable=durable)
    try:
        with server, server.client() as client:
            yield Stack(redis, client, worker, tmp_path)
    finally:
        worker.terminate()
        worker.wait(20)
        redis.stop()


@pytest.fixture
def stack(tmp_path):
    """Redis with its append-only file: what it acknowledged survives a kill."""
    with _running(tmp_path, durable=True) as running:
        yield running


@pytest.fixture
def forgetful_stack(tmp_path):
    """Redis without persistence: it comes back empty."""
    with _running(tmp_path, durable=False) as running:
        yield running


def _finished_with_every_version(stack: Stack, job: str) -> dict:
    status = wait_for_job(stack.client, job, stack.worker_log, timeout=90)
    assert status["versions"] == VERSIONS and status["progress"]["step"] == STEPS
    assert sorted(p.name for p in (stack.registry / "outlast").iterdir() if p.name[0] != ".") >= VERSIONS
    return status


def test_a_job_trains_through_a_redis_that_stops_answering(stack):
    job = stack.start_job()
    trained = stack.outage(job, stack.redis.pause, stack.redis.resume)
    assert trained > 0  # the loop never waited for Redis
    _finished_with_every_version(stack, job)
    stack.assert_worker_alive()
    assert "Redis is unreachable" in stack.worker_log.read_text()


def test_a_job_trains_through_a_redis_restart_that_keeps_its_data(stack):
    job = stack.start_job()
    trained = stack.outage(job, stack.redis.kill, stack.redis.start)
    assert trained > 0
    _finished_with_every_version(stack, job)
    stack.assert_worker_alive()
    assert "Redis answers again" in stack.worker_log.read_text()


def test_a_job_trains_through_a_redis_restart_that_lost_everything(forgetful_stack):
    stack = forgetful_stack
    job = stack.start_job()
    trained = stack.outage(job, stack.redis.kill, stack.redis.start)
    assert trained > 0
    # the job writes itself into the new Redis at its next report, RQ its end when it finishes
    wait_until(lambda: stack.client.get(f"/train/{job}").status_code == 200, 30, interval=0.2,
               what="the job to write itself back")
    _finished_with_every_version(stack, job)
    stack.assert_worker_alive()

    Redis.from_url(stack.redis.url).delete(f"rq:job:{job}")  # forgotten once more, with nothing to write it back
    lost = stack.client.get(f"/train/{job}")
    assert lost.status_code == 404
    assert "outlast" in lost.json()["detail"] and ", ".join(VERSIONS) in lost.json()["detail"]
    assert stack.client.get(f"/train/{job}/metrics").status_code == 200  # its files are still served

    short = stack.client.post("/train", json=JOB | {"model": "after", "steps": 20, "checkpoint_every": 20}).json()
    assert wait_for_job(stack.client, short["id"], stack.worker_log, timeout=60)["versions"] == ["000001"]


def test_an_idle_worker_waits_out_an_outage_and_takes_the_next_job(forgetful_stack):
    stack = forgetful_stack
    wait_until(lambda: Worker.count(connection=Redis.from_url(stack.redis.url)) == 1, 60, interval=0.2,
               what="the worker to listen")
    stack.redis.kill()
    time.sleep(OUTAGE_S)
    stack.assert_worker_alive()
    stack.redis.start()  # empty: the worker is no longer even registered
    job = stack.client.post("/train", json=JOB | {"model": "after", "steps": 20, "checkpoint_every": 20}).json()
    assert wait_for_job(stack.client, job["id"], stack.worker_log, timeout=60)["versions"] == ["000001"]
    stack.assert_worker_alive()


def test_an_attempt_taken_over_during_an_outage_stops_and_leaves_the_job_alone(stack):
    job = stack.start_job()
    stack.redis.kill()
    time.sleep(2)
    stack.redis.start()
    # what another worker's retry of the job leaves (an outage past the heartbeat allowance): its name on it;
    # the job's reports back off for at least a second, so this lands before its first report
    Redis.from_url(stack.redis.url).hset(f"rq:job:{job}", "worker_name", "another-worker")
    wait_until(lambda: "this attempt stops here" in stack.worker_log.read_text(), 30, interval=0.2,
               what="the superseded attempt to stop")
    step = stack.last_step_on_disk(job)
    time.sleep(1)
    assert stack.last_step_on_disk(job) == step < STEPS  # no longer training
    status = stack.client.get(f"/train/{job}").json()
    assert status["status"] == "started" and status["worker"] == "another-worker"  # left to the new attempt
    stack.assert_worker_alive()
    short = stack.client.post("/train", json=JOB | {"model": "after", "steps": 20, "checkpoint_every": 20}).json()
    assert wait_for_job(stack.client, short["id"], stack.worker_log, timeout=60)["versions"] == ["000001"]
