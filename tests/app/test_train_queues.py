"""A job may ask for a queue (e.g. `gpu` or `cpu`), one of GAN_QUEUES; the default is the first of them."""

import pytest
from redis import Redis
from rq import Queue

from app.main import create_app
from tests.conftest import make_settings
from tests.support import LiveServer

JOB = {"model": "q-model", "dataset": {"kind": "synthetic"}, "steps": 1, "batch_size": 8}


@pytest.fixture
def queues(tmp_path, tiny_registry, redis_server):
    names = {"default": f"training-{tmp_path.name}", "gpu": f"gpu-{tmp_path.name}", "cpu": f"cpu-{tmp_path.name}"}
    settings = make_settings(tiny_registry, redis_server.url,
                             queues=f"{names['default']}, {names['gpu']}, {names['cpu']}")
    redis = Redis.from_url(redis_server.url)
    with LiveServer(create_app(settings, inference_in_process=True)) as server, server.client() as client:
        yield client, names, lambda name: Queue(name, connection=redis).job_ids


def test_a_job_goes_to_the_queue_it_asks_for(queues):
    client, names, queued = queues
    r = client.post("/train", json={**JOB, "queue": names["gpu"]})
    assert r.status_code == 202
    job_id = r.json()["id"]
    assert queued(names["gpu"]) == [job_id] and queued(names["default"]) == []
    assert client.get(f"/train/{job_id}").json()["queue"] == names["gpu"]
    assert job_id in [j["id"] for j in client.get("/train").json()["jobs"]]  # listed across every queue


def test_a_job_without_a_queue_goes_to_the_default_one(queues):
    client, names, queued = queues
    job_id = client.post("/train", json=JOB).json()["id"]
    assert queued(names["default"]) == [job_id]
    assert client.get(f"/train/{job_id}").json()["spec"]["model"] == "q-model"


def test_an_unknown_queue_is_refused_with_the_valid_list(queues):
    client, names, queued = queues
    r = client.post("/train", json={**JOB, "queue": "tpu"})
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "queue"]
    assert error["msg"] == f"unknown queue 'tpu'; valid: {names['default']}, {names['gpu']}, {names['cpu']}"
    assert all(queued(name) == [] for name in names.values())
