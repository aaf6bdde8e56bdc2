"""A running job's record in Redis through outages, against a real redis-server that is killed and restarted:
reports wait and land, a cancel check that cannot reach Redis is "not canceled", a job Redis lost is written
back whole, and an attempt another worker took over is told so."""

import threading

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job

from models.cancellation import cancel_key
from tests.support import RedisServer
from worker.job_record import FIRST_RETRY_S, JobRecord, Superseded


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=[True, False], ids=["keeps-data", "restarts-empty"])
def redis(tmp_path, request):
    server = RedisServer(tmp_path, durable=request.param)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def durable_redis(tmp_path):
    server = RedisServer(tmp_path, durable=True)
    server.start()
    yield server
    server.stop()


def _running_job(redis: RedisServer) -> Job:
    job = Queue("records", connection=Redis.from_url(redis.url)).enqueue_call("worker.jobs.train", args=({},))
    job.worker_name = "worker-a"
    job.meta["versions"] = []
    job.save()
    return job


def _stored(redis: RedisServer, job: Job) -> Job:
    return Job.fetch(job.id, connection=Redis.from_url(redis.url))


def test_a_report_made_while_redis_is_down_lands_once_it_answers(redis):
    job, clock = _running_job(redis), Clock()
    record = JobRecord(job, clock=clock)
    redis.kill()
    job.meta["versions"] = ["000001"]
    assert record.save() is False  # kept, not lost
    job.meta["versions"] = ["000001", "000002"]
    assert record.save() is False  # no new try before the backoff: the loop pays one timeout per try
    redis.start()
    clock.advance(FIRST_RETRY_S)
    job.meta["progress"] = {"step": 40}
    assert record.save() is True
    stored = _stored(redis, job)  # restarted empty: the job was written back whole, not only its meta
    assert stored.meta["versions"] == ["000001", "000002"] and stored.meta["progress"] == {"step": 40}
    assert stored.func_name == "worker.jobs.train" and stored.worker_name == "worker-a"


def test_a_cancel_check_that_cannot_reach_redis_is_not_a_cancel(durable_redis):
    job, clock = _running_job(durable_redis), Clock()
    record = JobRecord(job, clock=clock)
    Redis.from_url(durable_redis.url).set(cancel_key(job.id), 1)
    durable_redis.kill()
    assert record.canceled() is False
    durable_redis.start()
    clock.advance(FIRST_RETRY_S)
    assert record.canceled() is True


def test_flush_waits_for_redis_to_answer(durable_redis):
    job = _running_job(durable_redis)
    record = JobRecord(job)
    durable_redis.kill()
    job.meta["canceled"] = False
    record.save()
    threading.Timer(1.0, durable_redis.start).start()
    record.flush()
    assert _stored(durable_redis, job).meta["canceled"] is False


def test_an_attempt_another_worker_took_over_during_the_outage_is_superseded(durable_redis):
    job, clock = _running_job(durable_redis), Clock()
    record = JobRecord(job, clock=clock)
    durable_redis.kill()
    record.save()
    durable_redis.start()
    # what a retry by another worker leaves: its name on the job, and its own meta
    Redis.from_url(durable_redis.url).hset(job.key, "worker_name", "worker-b")
    clock.advance(FIRST_RETRY_S)
    with pytest.raises(Superseded, match="retried by another worker"):
        record.save()
    assert _stored(durable_redis, job).meta["versions"] == []  # the new attempt's record, untouched
