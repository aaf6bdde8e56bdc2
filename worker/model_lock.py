"""One training job per model at a time, across every worker: a Redis lock that the running job renews.

Two jobs on the same model would otherwise take turns publishing, and `latest` would flip between two
unrelated runs. Jobs for different models never wait for each other. A worker that dies stops renewing, so
its lock expires after `ttl_s` and the next job on that model goes ahead.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from redis import Redis
from redis.exceptions import LockError, RedisError
from redis.lock import Lock

log = logging.getLogger(__name__)

LOCK_KEY = "gan:model-lock:{model}"


class Canceled(Exception):
    """The job was canceled while it waited for the model."""


class ModelLock:
    def __init__(self, connection: Redis, model: str, ttl_s: float = 30.0, poll_s: float = 0.5,
                 owner: str | None = None):
        self.model, self.ttl_s, self.poll_s = model, ttl_s, poll_s
        # the job id as the lock's token: a retry of a job whose worker was killed takes over the lock its
        # dead attempt left, rather than waiting ttl_s for it to expire
        self.owner = owner.encode() if owner else None
        self.connection = connection
        self.lock: Lock = connection.lock(LOCK_KEY.format(model=model), timeout=ttl_s, sleep=min(poll_s, 0.1),
                                          thread_local=False)  # the renewing thread must see the token
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self, should_stop: Callable[[], bool], on_wait: Callable[[], None]) -> None:
        """Block until this job holds the model; `on_wait` runs once if another job holds it first."""
        waited = False
        while not self._take():
            if not waited:
                on_wait()
                waited = True
            if should_stop():
                raise Canceled(f"canceled while waiting for another job on model {self.model!r}")
        self._renewer = threading.Thread(target=self._renew, name=f"model-lock-{self.model}", daemon=True)
        self._renewer.start()

    def _take(self) -> bool:
        if self.owner is not None and self.connection.get(self.lock.name) == self.owner:
            self.lock.local.token = self.owner
            try:
                self.lock.reacquire()  # ours, from an earlier attempt of this job: back to a full ttl_s
                return True
            except LockError:  # expired in between: take it the ordinary way
                pass
        return self.lock.acquire(blocking=True, blocking_timeout=self.poll_s, token=self.owner)

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                self.lock.reacquire()  # back to a full ttl_s
            except LockError:
                log.error("lost the lock on model %r: another job may publish to it now", self.model)
                return
            except (RedisError, OSError) as e:
                log.warning("could not renew the lock on model %r: %s", self.model, e)

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        try:
            self.lock.release()
        except (LockError, RedisError, OSError) as e:  # expired or Redis gone: nothing left to release
            log.warning("releasing the lock on model %r: %s", self.model, e)
