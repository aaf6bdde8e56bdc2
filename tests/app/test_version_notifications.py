"""Prompt hot swaps: a worker's notice on Redis makes a replica serve the new version at once; polling is the
fallback for notices that never arrive, and the listener rides out Redis going away."""

import os
import time

import pytest
import torch
from redis import Redis

from app.main import create_app
from app.serving.catalog import Catalog
from app.serving.runner import Runner
from models.registry import Registry
from models.notifications import VERSIONS_CHANNEL, VersionLanded
from tests.conftest import make_settings
from tests.support import LiveServer, RedisServer, train_tiny, wait_until

SLOW_POLL_S = 60.0  # far longer than any test: a swap inside it came from the notification


def _served_version(client, model="m") -> str | None:
    r = client.post("/generate", json={"model": model, "seeds": [1]})
    return r.headers["x-model-version"] if r.status_code == 200 else None


def _serving(tmp_path, redis_url, **overrides):
    registry = tmp_path / "registry"
    train_tiny(registry, "m", "dcgan", steps=1)
    settings = make_settings(registry, redis_url).model_copy(update={"watch_interval_s": SLOW_POLL_S, **overrides})
    return registry, create_app(settings, inference_in_process=True)


def _time_to_serve(client, version: str, timeout: float) -> float:
    started = time.monotonic()
    wait_until(lambda: _served_version(client) == version, timeout, interval=0.02, what=f"version {version}")
    return time.monotonic() - started


def test_a_notified_replica_serves_the_new_version_within_a_second(tmp_path, redis_server):
    registry, app = _serving(tmp_path, redis_server.url)
    with LiveServer(app) as server, server.client() as client:
        assert _served_version(client) == "000001"
        assert app.state.listener.subscribed.wait(5)
        (version,) = train_tiny(registry, "m", "dcgan", steps=1)
        Redis.from_url(redis_server.url).publish(VERSIONS_CHANNEL, VersionLanded("m", version).encode())
        assert _time_to_serve(client, "000002", timeout=1.0) < 1.0
        assert client.get("/readyz").json()["version_notifications"]["received"] >= 1


def test_a_replica_that_missed_the_notification_catches_up_on_its_next_poll(tmp_path, redis_server):
    registry, app = _serving(tmp_path, redis_server.url, watch_interval_s=0.3)
    with LiveServer(app) as server, server.client() as client:
        assert _served_version(client) == "000001"
        train_tiny(registry, "m", "dcgan", steps=1)  # published with no notice at all
        _time_to_serve(client, "000002", timeout=5)


def test_the_listener_rides_out_redis_going_away_and_catches_up_when_it_returns(tmp_path):
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        registry, app = _serving(tmp_path, redis.url)
        with LiveServer(app) as server, server.client() as client:
            assert _served_version(client) == "000001" and app.state.listener.subscribed.wait(5)
            redis.stop()
            wait_until(lambda: not app.state.listener.subscribed.is_set(), 10, what="the listener to notice")
            train_tiny(registry, "m", "dcgan", steps=1)  # lands while no notice can be sent
            assert _served_version(client) == "000001"  # the API keeps serving meanwhile
            redis.start()  # same port: the listener re-subscribes and checks what it missed
            _time_to_serve(client, "000002", timeout=10)

            (version,) = train_tiny(registry, "m", "dcgan", steps=1)
            Redis.from_url(redis.url).publish(VERSIONS_CHANNEL, VersionLanded("m", version).encode())
            assert _time_to_serve(client, "000003", timeout=1.0) < 1.0
    finally:
        redis.stop()


@pytest.mark.parametrize("junk", [b"not json", b'{"model": "../etc", "version": "1"}'])
def test_junk_on_the_channel_is_ignored_and_the_listener_keeps_going(tmp_path, redis_server, junk):
    registry, app = _serving(tmp_path, redis_server.url)
    with LiveServer(app) as server, server.client() as client:
        assert _served_version(client) == "000001" and app.state.listener.subscribed.wait(5)
        publisher = Redis.from_url(redis_server.url)
        publisher.publish(VERSIONS_CHANNEL, junk)
        (version,) = train_tiny(registry, "m", "dcgan", steps=1)
        publisher.publish(VERSIONS_CHANNEL, VersionLanded("m", version).encode())
        assert _time_to_serve(client, "000002", timeout=1.0) < 1.0


def test_a_notice_that_outruns_the_shared_filesystem_is_checked_again_until_the_version_shows(tmp_path):
    # on NFS another host's directory listing can lag the notice: the catalog looks again shortly after
    staging, registry = tmp_path / "staging", tmp_path / "registry"
    train_tiny(staging, "m", "dcgan", steps=2, checkpoint_every=1)
    (registry / "m").mkdir(parents=True)
    os.rename(staging / "m" / "000001", registry / "m" / "000001")
    # a runner in this process stands in for the inference process; no watcher thread: only notices move it
    catalog = Catalog(Registry(registry), Runner(Registry(registry), torch.device("cpu")))
    assert catalog.get("m").version == "000001"
    catalog.notice("m", "000002", retry_delays_s=(0.1, 0.2, 0.4))  # not visible yet
    time.sleep(0.15)
    os.rename(staging / "m" / "000002", registry / "m" / "000002")  # shows up after the first look
    wait_until(lambda: catalog.get("m").version == "000002", 2, interval=0.02, what="the delayed version")
