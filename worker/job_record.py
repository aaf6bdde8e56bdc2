"""A running job's record in Redis (its meta and the cancel flag), kept so that Redis never stops training.

While Redis is unreachable the job's latest meta stays in memory and is written when Redis answers again;
tries back off from FIRST_RETRY_S to LAST_RETRY_S, so an outage costs the loop one short timeout per try, and
a cancel check that cannot reach Redis counts as "not canceled". Commands here fail fast (short timeouts, no
retries), unlike the worker's own connection, which waits outages out (worker/outages.py). If Redis comes back
without the job (restarted without its data), the whole job is written again, so its status stays readable.
If it comes back with the job taken over by another worker (an outage longer than the heartbeat allowance:
another worker's maintenance retried it), this attempt is Superseded and must leave the job alone.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, TypeVar

from redis import ConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from rq.job import Job

from models.cancellation import cancel_key

log = logging.getLogger(__name__)

FIRST_RETRY_S = 1.0
LAST_RETRY_S = 10.0  # so reports resume at most this long after Redis is back
T = TypeVar("T")


def start_attempt(job: Job) -> JobRecord:
    """Count this attempt in the job's meta and name its work horse (which process to look at, or kill)."""
    job.meta["attempts"] = job.meta.get("attempts", 0) + 1
    job.meta["pid"] = os.getpid()
    job.save_meta()
    return JobRecord(job)


def fail_for_good(job: Job, error: str) -> None:
    """Say why in the job, and let RQ not retry: the cause (a bad spec, a version deleted since the API checked
    it) would fail every attempt the same way. The caller raises."""
    job.meta["error"] = error
    job.save_meta()
    job.retries_left = 0


class Superseded(Exception):
    """Another worker runs this job now; this attempt must stop without touching it."""


def _failing_fast(connection: Redis) -> Redis:
    """A client of the same Redis as `connection` (the one the job came from) that gives up at once."""
    pool = connection.connection_pool
    kwargs = {**pool.connection_kwargs, "socket_connect_timeout": 1, "socket_timeout": 2,
              "retry": Retry(NoBackoff(), 0)}
    return Redis(connection_pool=ConnectionPool(connection_class=pool.connection_class, **kwargs))


class JobRecord:
    def __init__(self, job: Job, clock: Callable[[], float] = time.monotonic):
        self.job, self.clock = job, clock
        self.connection = _failing_fast(job.connection)
        self._unsaved = False
        self._after_outage = False
        self._down_since: float | None = None
        self._next_try = 0.0
        self._wait_s = FIRST_RETRY_S

    def save(self) -> bool:
        """Write the job's meta now, or at a try once Redis answers again; True if written now."""
        self._unsaved = True
        return self._due() and self._attempt(self._write, False)

    def canceled(self) -> bool:
        return self._due() and bool(self._attempt(lambda: self.connection.exists(cancel_key(self.job.id)), False))

    def flush(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Block until the meta is written: a job's last report must not be lost."""
        while self._unsaved:
            if self._due():
                self._attempt(self._write, False)
            else:
                sleep(max(0.05, self._next_try - self.clock()))

    def _due(self) -> bool:
        return self.clock() >= self._next_try

    def _write(self) -> bool:
        # after an outage Redis may be back without the job: then all of it is written, not only its meta,
        # since a hash holding only a meta is no job to RQ or the API
        if self._after_outage and not self.connection.exists(self.job.key):
            log.warning("job %s is no longer in Redis (restarted without its data?); writing it again", self.job.id)
            with self.connection.pipeline() as pipeline:
                self.job.save(pipeline=pipeline)
                pipeline.execute()
        elif self._after_outage and self._taken_over():
            raise Superseded(f"job {self.job.id} was retried by another worker while Redis was unreachable")
        else:
            self.connection.hset(self.job.key, "meta", self.job.serializer.dumps(self.job.meta))
        self._unsaved = self._after_outage = False
        return True

    def _taken_over(self) -> bool:
        runner = self.connection.hget(self.job.key, "worker_name")
        return runner is not None and runner.decode() != self.job.worker_name

    def _attempt(self, command: Callable[[], T], otherwise: T) -> T:
        try:
            result = command()
        except (RedisError, OSError) as e:
            self._after_outage = True
            if self._down_since is None:
                self._down_since = self.clock()
                log.warning("job %s: Redis is unreachable (%s: %s); training goes on and its reports wait",
                            self.job.id, e.__class__.__name__, e)
            self._next_try = self.clock() + self._wait_s
            self._wait_s = min(self._wait_s * 2, LAST_RETRY_S)
            return otherwise
        if self._down_since is not None:
            log.info("job %s: Redis answers again after %.1f s; reporting again", self.job.id,
                     self.clock() - self._down_since)
            self._down_since = None
        self._wait_s = FIRST_RETRY_S
        return result
