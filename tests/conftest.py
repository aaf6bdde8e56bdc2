"""Fixtures shared by the suite: settings pointing at temporary registries, a live server, real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

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
    """Settings of an app under test: the registry given, no shipped root unless asked, a quick registry poll."""
    return Settings(registry_dir=registry, redis_url=redis_url,
                    **{"shipped_registry_dir": registry / ".none", "watch_interval_s": 0.2, **overrides})


def make_app(registry: Path, redis_url: str = "redis://127.0.0.1:1/0", inference_process: bool = False,
             **overrides) -> FastAPI:
    """An app under test. Its inference server runs on a thread of this process unless the test asks for the
    inference process: a process per app would add a second of torch's import to each of the suite's apps."""
    return create_app(make_settings(registry, redis_url, **overrides), inference_in_process=not inference_process)


@pytest.fixture
def live(tiny_registry: Path, redis_server: RedisServer):
    """The app over real HTTP, serving the tiny registry, with a real Redis for /train."""
    with LiveServer(make_app(tiny_registry, redis_server.url)) as server:
        with server.client() as client:
            yield client
