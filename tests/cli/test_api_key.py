"""`gan` against a service that requires keys: the key travels from GAN_API_KEY, never on the command line."""

import hashlib

import pytest

from tests.cli.support import gan
from tests.conftest import make_app
from tests.support import LiveServer

KEY = "cli-key-0123456789abcdef"


@pytest.fixture
def keyed(tiny_registry, redis_server):
    with LiveServer(make_app(tiny_registry, redis_server.url, api_keys=KEY, queues="cli-keyed")) as server:
        with server.client(headers={"Authorization": f"Bearer {KEY}"}) as client:
            yield server.url, client


def _train(url: str, registry, **env):
    return gan("train", "--api", url, "--model", "keyed", "--steps", "10", "--batch-size", "8", registry=registry,
               **env)


def test_train_sends_the_key_from_the_environment(keyed, tiny_registry):
    url, client = keyed
    result = _train(url, tiny_registry, GAN_API_KEY=KEY)
    assert result.returncode == 0, result.stderr
    job = result.stdout.split("submitted job ")[1].split(":")[0]
    assert client.get(f"/train/{job}").json()["owner"] == hashlib.sha256(KEY.encode()).hexdigest()[:12]
    client.delete(f"/train/{job}")


def test_train_without_the_key_says_the_service_wants_one(keyed, tiny_registry):
    url, _ = keyed
    result = _train(url, tiny_registry, GAN_API_KEY="")
    assert result.returncode != 0 and "answered 401" in result.stderr and "Bearer" in result.stderr
