"""The worker's own Redis connection, which waits out outages of any length instead of failing.

RQ's worker treats a Redis error outside its dequeue loop (a job's heartbeat, the bookkeeping when a job ends,
its state) as fatal: it quits, and its teardown dies on the same error. A worker has nothing better to do
than wait while Redis is away, so its connection retries every command, with backoff, until Redis answers;
RQ's code then carries on as though nothing happened. The running job's own reports must not wait like this
(training would stall): they use a connection of their own (worker/job_record.py).
"""

from __future__ import annotations

import logging
import time

from redis import Redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

FIRST_RETRY_S = 0.5
LAST_RETRY_S = 10.0


class UntilRedisAnswers(Retry):
    """Retries forever (retries=-1), logging an outage when it starts and when it ends."""

    def __init__(self) -> None:
        super().__init__(ExponentialWithJitterBackoff(base=FIRST_RETRY_S, cap=LAST_RETRY_S), retries=-1)

    def call_with_retry(self, do, fail, is_retryable=None, with_failure_count=False):
        since: list[float] = []

        def noted(error: Exception, *count) -> None:
            if not since:
                since.append(time.monotonic())
                log.warning("Redis is unreachable (%s: %s); waiting for it, retrying with backoff",
                            error.__class__.__name__, error)
            fail(error, *count)

        result = super().call_with_retry(do, noted, is_retryable, with_failure_count)
        if since:
            log.info("Redis answers again after %.1f s", time.monotonic() - since[0])
        return result


def patient_connection(redis_url: str) -> Redis:
    # a short connect timeout: a dead host is retried at the backoff's pace, not the kernel's
    return Redis.from_url(redis_url, socket_connect_timeout=2, retry=UntilRedisAnswers())
