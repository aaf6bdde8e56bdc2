"""Tell every API replica that a version landed: one Redis pub/sub message per published version."""

from __future__ import annotations

import logging

from redis import Redis
from redis.exceptions import RedisError

from models.notifications import VERSIONS_CHANNEL, VersionLanded

log = logging.getLogger(__name__)


def announce(connection: Redis, model: str, version: str) -> int:
    """Publish the notice; returns how many subscribers got it. Best effort: the version is already in
    the registry, and replicas that miss the notice find it on their next poll."""
    try:
        return int(connection.publish(VERSIONS_CHANNEL, VersionLanded(model, version).encode()))
    except (RedisError, OSError) as e:
        log.warning("could not announce %s version %s (%s); replicas will find it by polling", model, version, e)
        return 0
