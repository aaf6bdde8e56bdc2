"""The per-model lock on a real Redis: one job per model at a time, other models free, dead holders expire."""

import threading
import time

import pytest
from redis import Redis

from worker.model_lock import Canceled, ModelLock


@pytest.fixture
def redis(redis_server):
    client = Redis.from_url(redis_server.url)
    yield client
    client.close()


def _never() -> bool:
    return False


def test_a_second_job_on_the_same_model_waits_until_the_first_releases(redis):
    first = ModelLock(redis, "same-model", ttl_s=5, poll_s=0.05)
    first.acquire(_never, lambda: None)
    waited, acquired = threading.Event(), threading.Event()

    second = ModelLock(redis, "same-model", ttl_s=5, poll_s=0.05)

    def second_job():
        second.acquire(_never, waited.set)
        acquired.set()

    threading.Thread(target=second_job, daemon=True).start()
    assert waited.wait(2) and not acquired.wait(0.3)
    first.release()
    assert acquired.wait(2)
    second.release()


def test_jobs_on_different_models_do_not_wait_for_each_other(redis):
    a, b = ModelLock(redis, "model-a", ttl_s=5), ModelLock(redis, "model-b", ttl_s=5)
    a.acquire(_never, lambda: pytest.fail("model-a was free"))
    b.acquire(_never, lambda: pytest.fail("model-b does not wait for model-a"))
    a.release()
    b.release()


def test_a_held_lock_is_renewed_past_its_ttl(redis):
    holder = ModelLock(redis, "long-job", ttl_s=0.6, poll_s=0.05)
    holder.acquire(_never, lambda: None)
    time.sleep(1.5)  # well past the ttl: only renewal keeps it
    with pytest.raises(Canceled):
        ModelLock(redis, "long-job", ttl_s=0.6, poll_s=0.05).acquire(lambda: True, lambda: None)
    holder.release()


def test_the_lock_of_a_holder_that_stopped_renewing_expires(redis):
    dead = ModelLock(redis, "dead-holder", ttl_s=0.5, poll_s=0.05)
    dead.lock.acquire()  # taken without the renewing thread, as if its process had died
    started = time.monotonic()
    successor = ModelLock(redis, "dead-holder", ttl_s=5, poll_s=0.05)
    successor.acquire(_never, lambda: None)
    assert time.monotonic() - started < 2
    successor.release()


def test_a_job_canceled_while_waiting_gives_up(redis):
    holder = ModelLock(redis, "busy", ttl_s=5, poll_s=0.05)
    holder.acquire(_never, lambda: None)
    with pytest.raises(Canceled, match="waiting for another job on model 'busy'"):
        ModelLock(redis, "busy", ttl_s=5, poll_s=0.05).acquire(lambda: True, lambda: None)
    holder.release()


def test_a_retry_of_the_same_job_takes_over_the_lock_its_killed_attempt_left(redis):
    dead = ModelLock(redis, "retried", ttl_s=30, poll_s=0.05, owner="job-1")
    assert dead._take()  # held, then its process dies without releasing
    started = time.monotonic()
    retry = ModelLock(redis, "retried", ttl_s=30, poll_s=0.05, owner="job-1")
    retry.acquire(_never, lambda: pytest.fail("the retry waited for its own lock"))
    assert time.monotonic() - started < 1
    other = ModelLock(redis, "retried", ttl_s=30, poll_s=0.05, owner="job-2")
    assert not other.lock.acquire(blocking=False, token=b"job-2")  # anyone else still waits
    retry.release()
