"""The management API over real HTTP, guarded by write keys: deleting versions, pinning `latest` (rollback),
setting `best` by hand, and who did it by key id."""

from __future__ import annotations

import shutil
import time

import pytest

from app.security import key_id
from models.registry import Registry
from tests.conftest import make_app
from tests.support import LiveServer, train_tiny, wait_until

GOOD, OTHER = "key-alpha-0123456789", "key-beta-9876543210"
URL = "/models/bars/seeds/3.png"


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def served(tiny_registry, tmp_path):
    registry = tmp_path / "registry"
    shutil.copytree(tiny_registry, registry)
    with LiveServer(make_app(registry, api_keys=f"{GOOD},{OTHER}")) as server, server.client() as client:
        yield client, registry


CALLS = [("delete", "/models/bars/versions/1", None), ("put", "/models/bars/aliases/latest", {"version": "1"}),
         ("put", "/models/bars/aliases/best", {"version": "1"}), ("delete", "/models/bars/aliases/latest", None)]


@pytest.mark.parametrize("method,path,body", CALLS)
def test_every_management_call_is_401_without_a_key_and_403_with_a_wrong_one(served, method, path, body):
    client, _ = served
    kwargs = {"json": body} if body else {}
    assert client.request(method.upper(), path, **kwargs).status_code == 401
    assert client.request(method.upper(), path, headers=_auth("nope"), **kwargs).status_code == 403
    shown = client.get("/models/bars").json()
    assert shown["versions"] == ["000001", "000002"]
    assert shown["aliases"] == {"latest": {"version": "000002", "pinned": False, "set_by": None}, "best": None}


def test_a_deleted_version_is_gone_and_its_number_never_comes_back(served):
    client, registry = served
    r = client.delete("/models/bars/versions/2", headers=_auth(GOOD))
    assert r.status_code == 200 and r.json() == {"model": "bars", "deleted": "000002", "by": key_id(GOOD)}
    assert client.get("/models/bars").json()["versions"] == ["000001"]
    assert client.get(URL).headers["x-model-version"] == "000001"
    assert client.get(URL, params={"version": "2"}).status_code == 404
    assert client.delete("/models/bars/versions/2", headers=_auth(GOOD)).status_code == 404
    assert train_tiny(registry, "bars", "dcgan", steps=2, image_size=(16, 24), channels=3) == ["000003"]


def test_unknown_models_and_versions_are_404_and_aliases_are_not_version_numbers(served):
    client, _ = served
    assert client.delete("/models/nope/versions/1", headers=_auth(GOOD)).status_code == 404
    assert client.delete("/models/bars/versions/9", headers=_auth(GOOD)).status_code == 404
    assert client.put("/models/bars/aliases/latest", json={"version": "7"}, headers=_auth(GOOD)).status_code == 404
    r = client.delete("/models/bars/versions/latest", headers=_auth(GOOD))
    assert r.status_code == 422 and "by its number" in r.text


def test_the_only_valid_version_is_kept_unless_forced(served):
    client, _ = served
    assert client.delete("/models/bars/versions/1", headers=_auth(GOOD)).status_code == 200
    r = client.delete("/models/bars/versions/2", headers=_auth(GOOD))
    assert r.status_code == 409 and "only valid version" in r.json()["detail"] and "force=true" in r.json()["detail"]
    assert client.get(URL).status_code == 200
    assert client.delete("/models/bars/versions/2", params={"force": "true"}, headers=_auth(GOOD)).status_code == 200
    assert client.get(URL).status_code == 404


def test_pinning_latest_rolls_back_and_new_versions_land_without_being_served_until_unpinned(served):
    client, registry = served
    assert client.get(URL).headers["x-model-version"] == "000002"
    r = client.put("/models/bars/aliases/latest", json={"version": "1"}, headers=_auth(GOOD))
    assert r.status_code == 200
    assert r.json()["latest"] == {"version": "000001", "pinned": True, "set_by": key_id(GOOD)}
    assert client.get(URL).headers["x-model-version"] == "000001"  # at once, on this replica

    new = train_tiny(registry, "bars", "dcgan", steps=3, image_size=(16, 24), channels=3)[-1]
    time.sleep(1.0)  # five registry polls
    assert client.get(URL).headers["x-model-version"] == "000001"
    shown = client.get("/models/bars").json()
    assert new in shown["versions"] and shown["latest"] == "000001"
    assert client.get(URL, params={"version": new}).headers["x-model-version"] == new

    r = client.delete("/models/bars/aliases/latest", headers=_auth(OTHER))
    assert r.json()["latest"] == {"version": new, "pinned": False, "set_by": None}
    wait_until(lambda: client.get(URL).headers["x-model-version"] == new, 10, what="latest to move on")


def test_the_pinned_version_is_deleted_only_when_forced_and_the_pin_goes_with_it(served):
    client, _ = served
    client.put("/models/bars/aliases/latest", json={"version": "1"}, headers=_auth(GOOD))
    r = client.delete("/models/bars/versions/1", headers=_auth(GOOD))
    assert r.status_code == 409 and "pinned" in r.json()["detail"]
    assert client.delete("/models/bars/versions/1", params={"force": "true"}, headers=_auth(GOOD)).status_code == 200
    assert client.get("/models/bars").json()["aliases"]["latest"] == {"version": "000002", "pinned": False,
                                                                       "set_by": None}
    assert client.get(URL).headers["x-model-version"] == "000002"


def test_best_set_by_hand_shows_which_key_set_it_and_never_the_key(served):
    client, _ = served
    r = client.put("/models/bars/aliases/best", json={"version": "000001"}, headers=_auth(OTHER))
    assert r.status_code == 200 and r.json()["best"] == {"version": "000001", "set_by": key_id(OTHER)}
    shown = client.get("/models/bars")
    assert shown.json()["best"] == "000001" and OTHER not in shown.text and GOOD not in shown.text
    redirect = client.get(URL, params={"version": "best"})
    assert redirect.status_code == 307 and "version=000001" in redirect.headers["location"]


def test_a_version_that_does_not_load_cannot_be_pinned_nor_made_best(served):
    client, registry = served

    def corrupt(directory):
        for f in (registry / "bars" / "000002").iterdir():
            shutil.copy(f, directory / f.name)
        (directory / "generator.safetensors").write_bytes(b"not weights")

    broken = Registry(registry).publish("bars", corrupt)
    for alias in ("latest", "best"):
        r = client.put(f"/models/bars/aliases/{alias}", json={"version": broken}, headers=_auth(GOOD))
        assert r.status_code == 409 and "sha256" in r.json()["detail"], r.text
    assert client.get("/models/bars").json()["aliases"]["latest"]["pinned"] is False


def test_deleting_the_best_version_clears_best(served):
    client, _ = served
    client.put("/models/bars/aliases/best", json={"version": "1"}, headers=_auth(GOOD))
    assert client.delete("/models/bars/versions/1", headers=_auth(GOOD)).status_code == 200
    assert client.get("/models/bars").json()["aliases"]["best"] is None
    assert client.get(URL, params={"version": "best"}).status_code == 404
