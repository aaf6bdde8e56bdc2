"""A model's interface (latent size, classes in order, image shape) is fixed by its first version, over real
HTTP: a job that would change it is refused naming the fields, and a version that still arrives with another
one is shown invalid with its reason and never served as `latest`."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from models.checkpoint import METADATA
from models.registry import Registry
from tests.conftest import make_app
from tests.support import LiveServer, wait_until

JOB = {"model": "bars-cond", "dataset": {"kind": "synthetic"}, "architecture": "cdcgan", "image_size": 32,
       "channels": 1, "batch_size": 8, "steps": 4, "base_width": 8}


@pytest.fixture
def served(tiny_registry, redis_server, tmp_path):
    registry = tmp_path / "registry"
    shutil.copytree(tiny_registry, registry)
    with LiveServer(make_app(registry, redis_server.url)) as server, server.client() as client:
        yield client, registry


@pytest.mark.parametrize("change,named", [
    ({"latent_dim": 64}, "latent_dim: 64, not 100"),
    ({"image_size": 16}, "image: 16x16x1, not 32x32x1"),
    ({"channels": 3}, "image: 32x32x3, not 32x32x1"),
    ({"architecture": "dcgan"}, "classes: none (unconditional), not ['bar-0'"),
])
def test_a_job_that_would_change_an_existing_models_interface_is_refused_naming_the_field(served, change, named):
    client, _ = served
    queued = client.get("/train").json()["jobs"]
    r = client.post("/train", json=JOB | change)
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "model"] and named in error["msg"] and "000001" in error["msg"]
    assert client.get("/train").json()["jobs"] == queued  # nothing was queued


def test_a_job_that_keeps_the_interface_is_queued(served):
    client, _ = served
    r = client.post("/train", json=JOB)
    assert r.status_code == 202, r.text
    client.delete(f"/train/{r.json()['id']}")


def test_a_version_written_by_hand_with_other_classes_is_invalid_and_never_latest(served, caplog):
    client, registry = served
    url = "/models/bars-cond/seeds/1.png"
    assert client.get(url, params={"label": 0}).headers["x-model-version"] == "000002"  # in use, watched

    def reordered(directory):
        """The weights of version 2, its classes listed backwards: loads fine, means other classes."""
        for f in Registry(registry).path("bars-cond", "2").iterdir():
            shutil.copy(f, directory / f.name)
        metadata = json.loads((directory / METADATA).read_text())
        metadata["classes"] = metadata["classes"][::-1]
        (directory / METADATA).write_text(json.dumps(metadata))

    with caplog.at_level(logging.ERROR, logger="app.serving.catalog"):
        assert Registry(registry).publish("bars-cond", reordered) == "000003"
        shown = wait_until(lambda: (d := client.get("/models/bars-cond").json())["version_details"]["000003"].get(
            "error") and d, 10, what="the version shown invalid")
        wait_until(lambda: any("000003" in r.getMessage() for r in caplog.records), 10, what="the log line")
    details = shown["version_details"]["000003"]
    assert details["valid"] is False and "classes: ['bar-9'" in details["error"] and "not ['bar-0'" in details["error"]
    assert shown["latest"] == "000002"
    assert client.get(url, params={"label": 0}).headers["x-model-version"] == "000002"
    assert client.get(url, params={"label": 0, "version": "3"}).status_code == 404
    [line] = [r for r in caplog.records if "000003" in r.getMessage()]
    assert "interface differs" in line.getMessage()
