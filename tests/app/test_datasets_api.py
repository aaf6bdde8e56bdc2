"""POST /datasets: bad input is a 4xx that says what to fix; a good request becomes a pinned dataset job; the
download answers 409 before the archive exists, ranges once it does, and 410 after it expires."""

import time

import pytest
from redis import Redis
from rq.job import Job

from app.main import create_app
from models import dataset_store
from tests.conftest import make_settings
from tests.support import LiveServer

CLASSES = [f"bar-{i}" for i in range(10)]


@pytest.fixture
def api(tmp_path, tiny_registry, redis_server):
    queue = f"datasets-{tmp_path.name}"
    settings = make_settings(tiny_registry, redis_server.url, queues=queue, dataset_ttl_s=60)
    with LiveServer(create_app(settings, inference_in_process=True)) as server, server.client() as client:
        yield client, Redis.from_url(redis_server.url)


def _error(r) -> str:
    detail = r.json()["detail"]
    return detail if isinstance(detail, str) else " ".join(f"{d['loc']} {d['msg']}" for d in detail)


@pytest.mark.parametrize("body, status, says", [
    ({"model": "bars-cond", "n": 100_001}, 422, "less than or equal to 100000"),
    ({"model": "bars-cond", "n": 0}, 422, "greater than or equal to 1"),
    ({"model": "bars-cond", "n": 5, "classes": {"Sneaker": 1}}, 422, "unknown class 'Sneaker'; valid: bar-0"),
    ({"model": "bars-cond", "n": 5, "classes": {"bar-1": -1, "bar-2": 2}}, 422, "must not be negative"),
    ({"model": "bars-cond", "n": 5, "classes": {"bar-1": 0}}, 422, "sum to zero"),
    ({"model": "bars-cond", "n": 5, "classes": [1, 2]}, 422, "one weight per class (10"),
    ({"model": "bars", "n": 5, "classes": {"bar-1": 1}}, 422, "'bars' is unconditional: leave out classes"),
    ({"model": "bars-cond", "n": 5, "format": "jpeg"}, 422, "'png' or 'idx'"),
    ({"model": "bars-cond", "n": 5, "first_seed": 2**63 - 2}, 422, "largest seed"),
    ({"model": "bars-cond", "n": 5, "queue": "nope"}, 422, "unknown queue 'nope'"),
    ({"model": "no-such-model", "n": 5}, 404, "no-such-model"),
    ({"model": "bars-cond", "version": "99", "n": 5}, 404, "no version '000099'"),
])
def test_bad_requests_are_refused_with_what_to_fix(api, body, status, says):
    client, _ = api
    r = client.post("/datasets", json=body)
    assert r.status_code == status and says in _error(r), r.text


def test_a_dataset_job_pins_the_version_and_spells_out_its_class_weights(api):
    client, redis = api
    r = client.post("/datasets", json={"model": "bars-cond", "n": 20, "classes": {"bar-3": 3, "bar-7": 1},
                                       "format": "idx", "truncation": 0.5})
    assert r.status_code == 202 and r.headers["location"].endswith(f"/datasets/{r.json()['id']}")
    spec = Job.fetch(r.json()["id"], connection=redis).args[0]
    assert spec["version"] == "000002" and spec["ttl_s"] == 60
    assert spec["weights"] == [0, 0, 0, 3, 0, 0, 0, 1, 0, 0]
    status = client.get(f"/datasets/{r.json()['id']}").json()
    assert status["kind"] == "dataset" and status["status"] == "queued" and status["download_url"] is None
    assert status["request"]["format"] == "idx"


def test_the_download_is_409_until_the_archive_exists_then_ranges_then_410_once_expired(api, tiny_registry):
    client, _ = api
    job_id = client.post("/datasets", json={"model": "bars-cond", "n": 5}).json()["id"]
    r = client.get(f"/datasets/{job_id}/download")
    assert r.status_code == 409 and "not ready yet" in r.json()["detail"]

    payload = bytes(range(256)) * 4
    directory = dataset_store.dataset_dir(tiny_registry, job_id)
    dataset_store.save(directory, {"model": "bars-cond", "version": "000002"}, 1.0, lambda p: p.write_bytes(payload))
    whole = client.get(f"/datasets/{job_id}/download")
    assert whole.status_code == 200 and whole.content == payload
    assert f"bars-cond-000002-{job_id}.tar.gz" in whole.headers["content-disposition"]
    part = client.get(f"/datasets/{job_id}/download", headers={"Range": "bytes=1000-"})
    assert part.status_code == 206 and part.content == payload[1000:]
    assert part.headers["content-range"] == f"bytes 1000-1023/{len(payload)}"

    time.sleep(1.1)
    r = client.get(f"/datasets/{job_id}/download")
    assert r.status_code == 410 and "GAN_DATASET_TTL_S" in r.json()["detail"]
    assert not directory.exists()


def test_a_training_job_is_not_a_dataset(api):
    client, _ = api
    job_id = client.post("/train", json={"model": "t", "dataset": {"kind": "synthetic"}, "steps": 1,
                                         "batch_size": 8}).json()["id"]
    r = client.get(f"/datasets/{job_id}")
    assert r.status_code == 404 and f"see /train/{job_id}" in r.json()["detail"]
    assert client.get("/datasets/nosuchjob").status_code == 404


def test_with_keys_a_dataset_needs_one_and_belongs_to_it(tmp_path, tiny_registry, redis_server):
    settings = make_settings(tiny_registry, redis_server.url, queues=f"datasets-{tmp_path.name}",
                             api_keys="alice-key,bob-key")
    with LiveServer(create_app(settings, inference_in_process=True)) as server, server.client() as client:
        assert client.post("/datasets", json={"model": "bars-cond", "n": 5}).status_code == 401
        alice, bob = ({"Authorization": f"Bearer {key}"} for key in ("alice-key", "bob-key"))
        job_id = client.post("/datasets", json={"model": "bars-cond", "n": 5}, headers=alice).json()["id"]
        assert client.get(f"/datasets/{job_id}").status_code == 401
        assert client.delete(f"/datasets/{job_id}", headers=bob).status_code == 403
        r = client.delete(f"/datasets/{job_id}", headers=alice)
        assert r.status_code == 200 and r.json()["status"] == "canceled"
