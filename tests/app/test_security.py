"""Who may call what, over real HTTP: API keys, rate limits, body size, data roots and name escapes."""

import asyncio
import hashlib
import os

import pytest
from pydantic import ValidationError
from redis import Redis

from app.body_limit import MAX_BODY_BYTES
from app.security import RateLimit
from app.settings import Settings
from tests.conftest import make_app
from tests.support import LiveServer

JOB = {"model": "my-gan", "dataset": {"kind": "synthetic"}, "steps": 10}
GOOD, OTHER, ADMIN = "key-alpha-0123456789", "key-beta-9876543210", "key-admin-5555555555"


@pytest.fixture
def keyed(tiny_registry, redis_server):
    app = make_app(tiny_registry, redis_server.url, api_keys=f"{GOOD},{OTHER}", admin_keys=ADMIN,
                   queues="security-tests")
    with LiveServer(app) as server, server.client() as client:
        yield client


def _auth(key):
    return {"Authorization": f"Bearer {key}"}


def test_training_without_a_key_is_401_asking_for_a_bearer_token(keyed):
    r = keyed.post("/train", json=JOB)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in r.json()["detail"]


def test_a_wrong_key_is_403_and_the_answer_says_nothing_about_the_real_keys(keyed):
    answers = {keyed.post("/train", json=JOB, headers=_auth(k)).text
               for k in ("nope", GOOD[:-1], GOOD + "x", "key-alpha", OTHER.upper())}
    assert len(answers) == 1  # the same words whatever was sent, however close to a real key
    r = keyed.post("/train", json=JOB, headers=_auth("nope"))
    assert r.status_code == 403 and GOOD not in r.text and OTHER not in r.text


def _submit(client, key, body=JOB) -> str:
    r = client.post("/train", json=body, headers=_auth(key))
    assert r.status_code == 202, r.text
    return r.json()["id"]


def test_a_job_records_a_short_hash_of_its_key_and_never_the_key(keyed, redis_server):
    job = _submit(keyed, GOOD)
    status = keyed.get(f"/train/{job}", headers=_auth(GOOD)).json()
    assert status["owner"] == hashlib.sha256(GOOD.encode()).hexdigest()[:12]
    stored = Redis.from_url(redis_server.url).hgetall(f"rq:job:{job}")
    assert not any(GOOD.encode() in value for value in stored.values())
    keyed.delete(f"/train/{job}", headers=_auth(GOOD))


def test_only_the_submitting_key_may_cancel_its_job(keyed):
    job = _submit(keyed, GOOD)
    assert keyed.delete(f"/train/{job}").status_code == 401
    assert keyed.delete(f"/train/{job}", headers=_auth("nope")).status_code == 403
    refused = keyed.delete(f"/train/{job}", headers=_auth(OTHER))
    assert refused.status_code == 403 and "submitted with another API key" in refused.json()["detail"]
    assert keyed.get(f"/train/{job}", headers=_auth(OTHER)).json()["status"] == "queued"  # untouched
    assert keyed.delete(f"/train/{job}", headers=_auth(GOOD)).json()["status"] == "canceled"


def test_an_admin_key_may_cancel_any_job_and_submit_its_own(keyed):
    job = _submit(keyed, OTHER)
    assert keyed.delete(f"/train/{job}", headers=_auth(ADMIN)).json()["status"] == "canceled"
    own = _submit(keyed, ADMIN)
    assert keyed.delete(f"/train/{own}", headers=_auth(GOOD)).status_code == 403
    assert keyed.delete(f"/train/{own}", headers=_auth(ADMIN)).json()["status"] == "canceled"


@pytest.mark.parametrize("path", ["/train", "/train/{job}", "/train/{job}/samples", "/train/{job}/metrics",
                                  "/train/{job}/plot.png"])
def test_reading_jobs_needs_a_key_when_keys_are_set(keyed, path):
    job = _submit(keyed, GOOD)
    url = path.format(job=job)
    assert keyed.get(url).status_code == 401
    assert keyed.get(url, headers=_auth("nope")).status_code == 403
    # any key may read; a queued job has written no samples or metrics yet: 404 saying so
    assert keyed.get(url, headers=_auth(OTHER)).status_code in (200, 404)
    keyed.delete(f"/train/{job}", headers=_auth(GOOD))


def test_a_jobs_events_need_a_key_when_keys_are_set(keyed):
    job = _submit(keyed, GOOD)
    assert keyed.get(f"/train/{job}/events").status_code == 401
    with keyed.stream("GET", f"/train/{job}/events", headers=_auth(OTHER)) as stream:
        assert stream.status_code == 200
        keyed.delete(f"/train/{job}", headers=_auth(GOOD))  # the stream ends with the job
        assert "event: end" in "".join(stream.iter_text())


def test_generating_stays_open_unless_configured(keyed):
    assert keyed.post("/generate", json={"model": "bars", "seeds": [1]}).status_code == 200


def test_generation_can_be_keyed_too(tiny_registry):
    app = make_app(tiny_registry, api_keys=GOOD, protect_generation=True)
    with LiveServer(app) as server, server.client() as client:
        body = {"model": "bars", "seeds": [1]}
        assert client.post("/generate", json=body).status_code == 401
        assert client.get("/models/bars/seeds/1.png").status_code == 401
        assert client.post("/interpolate", json={"model": "bars", "start": {"seed": 1}, "end": {"seed": 2}},
                           headers=_auth("nope")).status_code == 403
        assert client.post("/generate", json=body, headers=_auth(GOOD)).status_code == 200
        assert client.get("/models").status_code == 200  # listing models is not generation


def test_without_configured_keys_nothing_asks_for_one(live):
    assert live.post("/generate", json={"model": "bars", "seeds": [1]}).status_code == 200


def test_expensive_endpoints_are_rate_limited_per_client_with_retry_after(tiny_registry, redis_server):
    app = make_app(tiny_registry, redis_server.url, rate_limit="2/minute", queues="rate-limited")
    with LiveServer(app) as server, server.client() as client:
        body = {"model": "bars", "seeds": [1]}
        assert [client.post("/generate", json=body).status_code for _ in range(2)] == [200, 200]
        r = client.post("/interpolate", json={"model": "bars", "start": {"seed": 1}, "end": {"seed": 2}})
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
        assert "try again" in r.json()["detail"]
        assert client.get("/models").status_code == 200  # cheap endpoints are not counted
        assert client.post("/train", json={"model": "m", "dataset": {"kind": "synthetic"}}).status_code == 429
        assert client.get("/readyz").json()["rate_limits"] == {
            "enabled": True, "limits": ["2 per 1 minute"], "counted": "in redis, across replicas"}
    assert Redis.from_url(redis_server.url).keys("gan-rate*")  # counted in Redis, where other replicas see them


def test_rate_limits_say_per_replica_until_a_count_reaches_redis_again():
    limits = RateLimit("3/minute", "redis://127.0.0.1:1/0")  # nothing listens there
    limits.RETRY_SHARED_S = 0.0  # every request tries Redis again
    assert [asyncio.run(limits.wait_s("client")) for _ in range(3)] == [0.0] * 3  # counted alone
    assert asyncio.run(limits.wait_s("client")) > 0
    assert limits.describe()["counted"] == "per replica: redis is unreachable"  # tried again and still away


def test_an_unknown_rate_limit_is_refused_at_start_with_the_notation():
    with pytest.raises(ValidationError, match="60/minute"):
        Settings(rate_limit="sixty a minute")


def test_a_body_over_the_limit_is_413(live):
    big = {"model": "bars", "latents": [[0.5] * 4000] * 64}  # within the schema, over the byte limit
    r = live.post("/generate", json=big)
    assert r.status_code == 413 and f"{MAX_BODY_BYTES} bytes" in r.json()["detail"]

    def chunks():  # no Content-Length: counted as it streams
        yield b'{"model": "bars", "latents": ['
        for _ in range(300):
            yield b"[" + b",".join([b"0.5"] * 1000) + b"],"
        yield b"[0.5]]}"

    r = live.post("/generate", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert live.post("/generate", json={"model": "bars", "seeds": [1]}).status_code == 200


@pytest.fixture
def rooted(tiny_registry, redis_server, tmp_path):
    root = tmp_path / "data"
    (root / "faces").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    app = make_app(tiny_registry, redis_server.url, data_roots=str(root), queues="security-roots")
    with LiveServer(app) as server, server.client() as client:
        yield client, root


@pytest.mark.parametrize("path", ["{root}/../outside", "/etc", "{root}/escape", "{root}/escape/..",
                                  "../../../../etc/passwd", "{root}/faces/../../outside"])
def test_dataset_paths_outside_the_data_roots_are_refused_before_enqueueing(rooted, path):
    client, root = rooted
    r = client.post("/train", json=JOB | {"dataset": {"kind": "folder", "path": path.format(root=root)}})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"][-1] == "path" and "outside the allowed data roots" in detail["msg"]


def test_a_dataset_path_under_a_data_root_is_accepted(rooted):
    client, root = rooted
    r = client.post("/train", json=JOB | {"dataset": {"kind": "folder", "path": str(root / "faces")}})
    assert r.status_code == 202, r.text
    client.delete(f"/train/{r.json()['id']}")


def test_a_jobs_public_view_names_its_dataset_and_shows_no_server_path(rooted):
    client, root = rooted
    job = client.post("/train", json=JOB | {"dataset": {"kind": "folder", "path": str(root / "faces")}}).json()
    status = client.get(f"/train/{job['id']}")
    assert status.json()["spec"]["dataset"] == {"kind": "folder", "name": "faces", "split": "train", "limit": None}
    listed = client.get("/train")
    assert str(root) not in status.text and str(root) not in listed.text
    client.delete(f"/train/{job['id']}")


def test_paths_in_job_errors_are_cut_to_their_last_component():
    from app.job_view import hide_paths

    assert hide_paths("dataset directory /srv/data/faces does not exist") == "dataset directory faces does not exist"
    assert hide_paths("cannot read '/srv/data/faces/a b.png'", ["/srv/data/faces/a b.png"]) == "cannot read 'a b.png'"
    assert hide_paths("see http://host/x/y, 60/minute, ./rel") == "see http://host/x/y, 60/minute, ./rel"


@pytest.mark.parametrize("url", ["/models/..%2F..%2Fetc", "/models/%2E%2E", "/models/bars/seeds/1.png?version=../../x",
                                 "/models/bars/versions/..%2F..%2F..%2Fetc%2Fpasswd/samples.png",
                                 "/models/%C3%A9t%C3%A9%F0%9F%98%80", "/models/bars-cond/versions/-1/samples.png",
                                 "/models/.jobs", "/models/bars/versions/000001%00/samples.png"])
def test_model_and_version_names_cannot_escape_the_registry(live, url):
    r = live.get(url)
    assert r.status_code in (404, 422), r.text
    assert r.json()["detail"]


def test_a_pickled_generator_in_the_registry_is_never_loaded(tmp_path):
    """A version whose weights file is a pickle (torch.save) is invalid; the pickle is never executed."""
    import json
    import torch
    from models import checkpoint
    from tests.support import train_tiny

    train_tiny(tmp_path, "pickled", "dcgan", steps=2)
    version = tmp_path / "pickled" / "000001"
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"payload": Exploit()}, version / checkpoint.WEIGHTS)
    metadata = json.loads((version / checkpoint.METADATA).read_text())
    metadata["files"][checkpoint.WEIGHTS] = checkpoint.sha256_file(version / checkpoint.WEIGHTS)
    (version / checkpoint.METADATA).write_text(json.dumps(metadata))

    with LiveServer(make_app(tmp_path)) as server, server.client() as client:
        r = client.post("/generate", json={"model": "pickled", "seeds": [1]})
        assert r.status_code == 404 and "no valid version" in r.json()["detail"]
        assert client.get("/models/pickled").json()["version_details"]["000001"]["valid"] is False
    assert not marker.exists()


def test_the_openapi_schema_documents_the_bearer_scheme(live):
    schema = live.get("/openapi.json").json()
    assert any(s.get("scheme") == "bearer" for s in schema["components"]["securitySchemes"].values())


def test_every_configured_key_is_accepted_and_nothing_else():
    from app.security import KeyRing

    ring = KeyRing([GOOD, OTHER])
    assert ring.accepts(GOOD) and ring.accepts(OTHER)
    assert not any(ring.accepts(k) for k in ("", GOOD[:-1], GOOD + " ", OTHER.upper()))
    assert not KeyRing([]).enabled
