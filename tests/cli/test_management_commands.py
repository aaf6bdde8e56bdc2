"""`gan models delete --api`, `pin` and `unpin` against a live service with keys, over real HTTP."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from app.security import key_id
from cli.main import gan as gan_group
from tests.conftest import make_app
from tests.support import LiveServer

KEY = "key-cli-0123456789"


@pytest.fixture
def service(tiny_registry, tmp_path):
    registry = tmp_path / "registry"
    shutil.copytree(tiny_registry, registry)
    with LiveServer(make_app(registry, api_keys=KEY)) as server, server.client() as client:
        yield server.url, client


def _gan(*args: str, key: str = KEY):
    return CliRunner().invoke(gan_group, ["models", *args], env={"GAN_API_KEY": key})


def test_pin_and_unpin_move_latest_and_say_which_key_did(service):
    url, client = service
    pinned = _gan("pin", "bars", "1", "--api", url)
    assert pinned.exit_code == 0, pinned.output
    assert json.loads(pinned.output)["latest"] == {"version": "000001", "pinned": True, "set_by": key_id(KEY)}
    assert client.get("/models/bars/seeds/1.png").headers["x-model-version"] == "000001"
    unpinned = _gan("unpin", "bars", "--api", url)
    assert unpinned.exit_code == 0 and json.loads(unpinned.output)["latest"]["pinned"] is False


def test_pin_can_set_best_by_hand(service):
    url, client = service
    assert _gan("pin", "bars-cond", "1", "--alias", "best", "--api", url).exit_code == 0
    assert client.get("/models/bars-cond").json()["aliases"]["best"] == {"version": "000001", "set_by": key_id(KEY)}


def test_delete_through_the_service_keeps_its_rules_and_shows_its_refusals(service):
    url, client = service
    assert _gan("delete", "bars", "1", "--yes", "--api", url).exit_code == 0
    refused = _gan("delete", "bars", "2", "--yes", "--api", url)
    assert refused.exit_code == 1 and "409" in refused.output and "only valid version" in refused.output
    forced = _gan("delete", "bars", "2", "--yes", "--force", "--api", url)
    assert forced.exit_code == 0, forced.output
    assert client.get("/models/bars").status_code == 404


def test_a_missing_or_wrong_key_is_reported(service):
    url, _ = service
    assert "401" in _gan("pin", "bars", "1", "--api", url, key="").output
    assert "403" in _gan("unpin", "bars", "--api", url, key="nope").output
