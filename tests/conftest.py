"""Fixtures shared by the suite: settings pointing at temporary registries, a live server, real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.main import create_app
from app.settings import Settings
from tests.support import LiveServer, RedisServer, train_tiny


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> RedisServer:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tiny_registry(tmp_path_factory) -> Path:
    """A registry with a conditional and an unconditional model, two versions each, trained for real."""
    root = tmp_path_factory.mktemp("registry")
    train_tiny(root, "bars-cond", "cdcgan", steps=4, checkpoint_every=2)
    train_tiny(root, "bars", "dcgan", steps=4, checkpoint_every=2, image_size=(16, 24), channels=3)
    return root


def make_settings(registry: Path, redis_url: str = "redis://127.0.0.1:1/0", **overrides) -> Settings:
    """Settings of an app under test. Its forwards run on the API's inference thread unless a test asks for the
    inference process (tests/app/test_process_engine.py and the tests that start the real server): a process
    per app would add a second of torch's import to each of the suite's hundreds of apps."""
    return Settings(registry_dir=registry, redis_url=redis_url, watch_interval_s=0.2,
                    **{"shipped_registry_dir": registry / ".none", "inference_process": False, **overrides})


@pytest.fixture
def live(tiny_registry: Path, redis_server: RedisServer):
    """The app over real HTTP, serving the tiny registry, with a real Redis for /train."""
    with LiveServer(create_app(make_settings(tiny_registry, redis_server.url))) as server:
        with server.client() as client:
            yield client
