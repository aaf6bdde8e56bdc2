"""The seed URL's fast lane answers exactly what the FastAPI route answers, and leaves it everything unusual."""

from __future__ import annotations

import pytest

from app.main import create_app
from app.routes.seed_lane import SeedLane
from models import images as imaging
from tests.conftest import make_settings
from tests.support import LiveServer

URL = "/models/bars-cond/seeds/{seed}.png"


@pytest.fixture(scope="module")
def served(tiny_registry):
    with LiveServer(create_app(make_settings(tiny_registry))) as server:
        with server.client() as client:
            yield client


@pytest.fixture
def lane_choices(monkeypatch):
    """What the lane decided for each request: its arguments, or None when it handed over to the route."""
    choices: list[dict | None] = []
    plain = SeedLane._plain
    monkeypatch.setattr(SeedLane, "_plain", staticmethod(lambda scope: choices.append(plain(scope)) or choices[-1]))
    return choices


ANSWER_HEADERS = ("etag", "cache-control", "content-type", "x-model", "x-model-version")


@pytest.mark.parametrize("lane_query,route_query", [
    ({"label": "3", "version": "2"}, {"label": "3", "version": "2", "utm_source": "x"}),  # unknown parameter
    ({"label": "bar-1", "truncation": "0.5"}, {"label": "bar-1", "truncation": "5e-1"}),  # exponent notation
    ({"label": "0", "truncation": "2"}, {"label": "0", "truncation": "2", "cb": ""}),
])
def test_the_lane_and_the_route_give_the_same_bytes_and_headers(served, lane_choices, lane_query, route_query):
    fast = served.get(URL.format(seed=41), params=lane_query)
    assert lane_choices[-1] is not None
    slow = served.get(URL.format(seed=41), params=route_query)
    assert lane_choices[-1] is None
    assert fast.status_code == slow.status_code == 200
    assert fast.content == slow.content
    assert {h: fast.headers[h] for h in ANSWER_HEADERS} == {h: slow.headers[h] for h in ANSWER_HEADERS}


def test_the_lane_answers_if_none_match_with_304(served, lane_choices):
    etag = served.get(URL.format(seed=5), params={"label": "1"}).headers["etag"]
    again = served.get(URL.format(seed=5), params={"label": "1"}, headers={"If-None-Match": etag})
    assert lane_choices[-1] is not None and again.status_code == 304


def test_a_change_of_png_encoding_changes_the_etag(served, monkeypatch):
    """An ETag is strong: the same tag must never name two different bodies, even across an upgrade."""
    before = served.get(URL.format(seed=6), params={"label": "1"}).headers["etag"]
    monkeypatch.setattr(imaging, "PNG_ENCODING", "png-test")
    assert served.get(URL.format(seed=6), params={"label": "1"}).headers["etag"] != before


@pytest.mark.parametrize("seed,query,status,loc", [
    ("-1", {"label": "1"}, 422, ["path", "seed"]),
    ("9223372036854775808", {"label": "1"}, 422, ["path", "seed"]),
    ("1", {"label": "1", "truncation": "3"}, 422, ["query", "truncation"]),
    ("1", {"label": "1", "truncation": "nan"}, 422, ["query", "truncation"]),
    ("1", {"label": "1", "version": "x" * 40}, 422, ["query", "version"]),
])
def test_what_the_route_refuses_is_refused_by_the_route(served, lane_choices, seed, query, status, loc):
    r = served.get(URL.format(seed=seed), params=query)
    assert lane_choices[-1] is None
    assert r.status_code == status and r.json()["detail"][0]["loc"] == loc


def test_errors_found_in_the_lane_have_the_routes_shape(served, lane_choices):
    missing = served.get(URL.format(seed=1))  # a conditional model without a label
    assert lane_choices[-1] is not None
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "label"]
    unknown = served.get("/models/nope/seeds/1.png")
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]


def test_other_methods_still_get_405(served):
    assert served.post(URL.format(seed=1)).status_code == 405
    assert served.head(URL.format(seed=1), params={"label": "1"}).status_code == 405


def test_keys_and_rate_limits_send_every_request_through_the_route(tiny_registry, lane_choices):
    settings = make_settings(tiny_registry, api_keys="k1", protect_generation=True)
    with LiveServer(create_app(settings)) as server, server.client() as client:
        assert client.get(URL.format(seed=1), params={"label": "1"}).status_code == 401
        assert lane_choices[-1] is None
        r = client.get(URL.format(seed=1), params={"label": "1"}, headers={"Authorization": "Bearer k1"})
        assert r.status_code == 200
