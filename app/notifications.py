"""Prompt hot swaps on every replica: a background thread subscribed to the workers' version notifications.

Each API process subscribes to models.notifications.VERSIONS_CHANNEL and, for each message, asks the catalog
to check that model at once. The thread never takes the API down: while Redis is away it retries, and on
every (re)subscription it asks for a full check, since messages published while it was away are lost
(pub/sub does not queue). The catalog's periodic poll stays the fallback for anything missed.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from redis import Redis
from redis.exceptions import RedisError

from models.notifications import VERSIONS_CHANNEL, VersionLanded

log = logging.getLogger(__name__)


class VersionListener:
    def __init__(self, redis_url: str, on_version: Callable[[VersionLanded], None],
                 on_subscribed: Callable[[], None], channel: str = VERSIONS_CHANNEL, retry_s: float = 1.0):
        self.redis_url, self.channel, self.retry_s = redis_url, channel, retry_s
        self.on_version, self.on_subscribed = on_version, on_subscribed
        self.subscribed = threading.Event()
        self.received = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="version-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        outage_logged = False
        while not self._stop.is_set():
            try:
                self._listen()
            except (RedisError, OSError) as e:
                if not outage_logged:  # once per outage, not once per retry
                    log.warning("version notifications unavailable (%s: %s); polling the registry meanwhile",
                                e.__class__.__name__, e)
                    outage_logged = True
            except Exception:  # the listener must outlive any one bad message or callback
                log.exception("version listener failed; restarting it")
            else:
                outage_logged = False
            self.subscribed.clear()
            self._stop.wait(self.retry_s)

    def _listen(self) -> None:
        # the health check pings a quiet connection, so a Redis that vanished without a reset is noticed
        client = Redis.from_url(self.redis_url, socket_connect_timeout=1, health_check_interval=5)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.channel)
            self.subscribed.set()
            log.info("subscribed to version notifications on %s", self.channel)
            self.on_subscribed()  # catch up on what landed while unsubscribed
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is None or message.get("type") != "message":
                    continue
                try:
                    landed = VersionLanded.decode(message["data"])
                except ValueError as e:
                    log.warning("ignoring a message on %s: %s", self.channel, e)
                    continue
                self.received += 1
                self.on_version(landed)
        finally:
            pubsub.close()
            client.close()
