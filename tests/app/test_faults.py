"""Faults around a running API, over real HTTP: Redis going away and coming back, the registry becoming
unreadable, a model deleted while served. Nothing is restarted; the service recovers by itself."""

import shutil

import pytest

from tests.conftest import make_app
from tests.support import LiveServer, RedisServer, train_tiny, wait_until

JOB = {"model": "m", "dataset": {"kind": "synthetic"}, "steps": 10}
GENERATE = {"model": "bars", "seeds": [1]}
INTERPOLATE = {"model": "bars", "start": {"seed": 1}, "end": {"seed": 2}, "steps": 3}
ARITHMETIC = {"model": "bars", "terms": [{"seeds": [1, 2]}, {"weight": -1, "seeds": [3]}]}


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test alone, which it may stop and start again on the same port."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_redis_stopped_and_restarted_while_the_api_runs(tiny_registry, own_redis):
    app = make_app(tiny_registry, own_redis.url, queues="faults")
    with LiveServer(app) as server, server.client() as client:
        assert client.post("/train", json=JOB).status_code == 202
        own_redis.stop()

        for path, body in (("/generate", GENERATE), ("/interpolate", INTERPOLATE), ("/arithmetic", ARITHMETIC)):
            assert client.post(path, json=body).status_code == 200, path
        r = client.post("/train", json=JOB)
        assert r.status_code == 503 and r.headers["retry-after"]
        assert "Redis" in r.json()["detail"] and "cannot be submitted" in r.json()["detail"]
        assert client.get("/train").status_code == 503
        ready = client.get("/readyz").json()
        assert ready["redis"]["reachable"] is False and ready["redis"]["note"]

        own_redis.start()  # same port, empty
        wait_until(lambda: client.post("/train", json=JOB).status_code == 202, 15, interval=0.2,
                   what="/train to work again")
        assert client.get("/readyz").json()["redis"]["reachable"] is True


@pytest.fixture
def private_registry(tmp_path):
    root = tmp_path / "registry"
    train_tiny(root, "served", "dcgan", steps=2)
    train_tiny(root, "other", "dcgan", steps=2)
    return root


def test_an_unreadable_registry_is_503_and_serving_recovers_when_it_returns(private_registry):
    away = private_registry.with_name("away")
    with LiveServer(make_app(private_registry)) as server, server.client() as client:
        assert client.post("/generate", json={"model": "served", "seeds": [1]}).status_code == 200
        private_registry.rename(away)
        private_registry.write_text("not a directory")  # unlistable, even for root

        r = client.post("/generate", json={"model": "other", "seeds": [1]})
        assert r.status_code == 503 and "registry" in r.json()["detail"]
        assert client.get("/models").status_code == 503
        assert client.get("/models/other").status_code == 503
        assert client.get("/readyz").status_code == 503
        # the generator already in memory keeps answering
        assert client.post("/generate", json={"model": "served", "seeds": [1]}).status_code == 200

        private_registry.unlink()
        away.rename(private_registry)
        assert client.post("/generate", json={"model": "other", "seeds": [1]}).status_code == 200
        assert client.get("/readyz").status_code == 200
        assert {m["name"] for m in client.get("/models").json()["models"]} == {"served", "other"}


def test_a_model_deleted_while_served_is_404_and_comes_back_when_restored(private_registry, tmp_path):
    body = {"model": "served", "seeds": [1]}
    with LiveServer(make_app(private_registry)) as server, server.client() as client:
        assert client.post("/generate", json=body).status_code == 200
        shutil.move(private_registry / "served", tmp_path / "kept")

        def gone():
            r = client.post("/generate", json=body)
            assert r.status_code in (200, 404), r.text
            return r.status_code == 404 and "unknown model" in r.json()["detail"]
        wait_until(gone, 5, what="the deleted model to be dropped")
        assert client.get("/models/served").status_code == 404

        shutil.move(tmp_path / "kept", private_registry / "served")
        r = client.post("/generate", json=body)
        assert r.status_code == 200 and r.headers["x-model-version"] == "000001"
