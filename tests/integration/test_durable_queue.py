"""The queue outlives a Redis crash: Redis runs with an append-only file, as deployed, and a job enqueued
before redis-server is killed with SIGKILL runs after it starts again on the same port and directory."""

import pytest

from tests.conftest import make_app
from tests.support import LiveServer, RedisServer, wait_for_job, worker_process

pytestmark = pytest.mark.integration

JOB = {"model": "durable", "dataset": {"kind": "synthetic", "limit": 64}, "architecture": "dcgan",
       "image_size": 16, "channels": 1, "batch_size": 8, "base_width": 8, "steps": 20, "checkpoint_every": 20,
       "sample_every": 100_000, "eval_samples": 0}


@pytest.fixture
def durable_redis(tmp_path):
    directory = tmp_path / "redis"
    directory.mkdir()
    redis = RedisServer(directory, durable=True)
    redis.start()
    yield redis
    redis.stop()


def test_a_job_enqueued_before_a_redis_crash_runs_after_the_restart(durable_redis, tmp_path):
    registry = tmp_path / "registry"
    with LiveServer(make_app(registry, durable_redis.url, queues="durable")) as server, server.client() as client:
        job = client.post("/train", json=JOB).json()["id"]
        durable_redis.kill()  # no worker yet: the job exists only in Redis
        assert client.get(f"/train/{job}").status_code == 503
        durable_redis.start()
        assert client.get(f"/train/{job}").json()["status"] == "queued"

        env = {"GAN_REGISTRY_DIR": str(registry), "GAN_REDIS_URL": durable_redis.url, "GAN_QUEUES": "durable",
               "GAN_TORCH_THREADS": "1"}
        worker = worker_process(env, tmp_path / "worker.log")
        try:
            status = wait_for_job(client, job, tmp_path / "worker.log", timeout=90)
        finally:
            worker.terminate()
            worker.wait(20)
    assert status["versions"] == ["000001"] and status["progress"]["step"] == JOB["steps"]
