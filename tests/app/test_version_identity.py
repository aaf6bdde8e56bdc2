"""Version identity over real HTTP: a version number is never reused, and a seed URL's ETag names the weights
behind its bytes, so a client's cached image is never confirmed for other weights."""

from __future__ import annotations

import shutil

import pytest

from models.registry import Registry
from tests.conftest import make_app
from tests.support import LiveServer, train_tiny, wait_until

URL = "/models/bars/seeds/7.png"


def _train_bars(registry, steps: int) -> str:
    return train_tiny(registry, "bars", "dcgan", steps=steps, image_size=(16, 24), channels=3)[-1]


@pytest.fixture
def registry(tiny_registry, tmp_path):
    copy = tmp_path / "registry"
    shutil.copytree(tiny_registry, copy)
    return copy


def test_after_the_newest_version_is_deleted_a_client_holding_its_etag_never_gets_304_nor_its_bytes(registry):
    with LiveServer(make_app(registry)) as server, server.client() as client:
        old = client.get(URL)
        assert old.headers["x-model-version"] == "000002"

        Registry(registry).delete("bars", "000002")
        new = _train_bars(registry, steps=3)
        assert new == "000003"  # not the deleted version's number
        wait_until(lambda: client.get(URL).headers["x-model-version"] == new, 30, what="the new version served")

        for params in ({}, {"version": new}):
            again = client.get(URL, params=params, headers={"If-None-Match": old.headers["etag"]})
            assert again.status_code == 200
            assert again.headers["etag"] != old.headers["etag"]
            assert again.content != old.content
        assert client.get(URL, params={"version": "2"}).status_code == 404


def test_the_same_version_number_with_other_weights_answers_another_etag(registry, tmp_path):
    """A registry rebuilt from nothing numbers from 1 again: the ETag of `?version=1` follows the weights."""
    with LiveServer(make_app(registry)) as server, server.client() as client:
        before = client.get(URL, params={"version": "1"})
    rebuilt = tmp_path / "rebuilt"
    assert _train_bars(rebuilt, steps=3) == "000001"
    with LiveServer(make_app(rebuilt)) as server, server.client() as client:
        after = client.get(URL, params={"version": "1"}, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"] and after.content != before.content
