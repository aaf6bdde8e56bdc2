"""Every image answer says how it was made, over real HTTP: read back from the image with Pillow and from the
headers, for single images, grids, seed URLs, walks (PNG, GIF, WebP, JSON frames) and arithmetic."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from tests.conftest import make_app
from tests.support import LiveServer


@pytest.fixture(scope="module")
def client(tiny_registry):
    with LiveServer(make_app(tiny_registry)) as server, server.client() as client:
        yield client


def _weights(client, model: str, version: str) -> str:
    return client.get(f"/models/{model}").json()["version_details"][version]["metadata"]["files"][
        "generator.safetensors"]


def _text(data: bytes) -> dict:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.text


def test_a_single_image_carries_model_version_weights_seed_label_truncation_and_software(client):
    r = client.post("/generate", json={"model": "bars-cond", "version": "1", "seeds": [5], "labels": [2],
                                       "truncation": 0.5})
    sha = _weights(client, "bars-cond", "000001")
    text = _text(r.content)
    assert text == {"model": "bars-cond", "version": "000001", "weights_sha256": sha, "seeds": "5",
                    "labels": '"bar-2"', "truncation": "0.5", "Software": text["Software"]}
    assert text["Software"].startswith("gan-service ")
    assert r.headers["x-weights-sha256"] == sha and r.headers["x-seeds"] == "5"
    assert r.headers["x-labels"] == '"bar-2"' and r.headers["x-truncation"] == "0.5"
    assert r.headers["x-software"] == text["Software"]


def test_a_grid_carries_every_seed_and_label(client):
    r = client.post("/generate", json={"model": "bars-cond", "seeds": [1, 2, 3], "labels": [0, 1, "bar-2"]})
    text = _text(r.content)
    assert text["seeds"] == "1,2,3" == r.headers["x-seeds"]
    assert text["labels"] == '"bar-0","bar-1","bar-2"' == r.headers["x-labels"]


def test_each_image_of_a_json_answer_carries_its_own_seed(client):
    r = client.post("/generate", json={"model": "bars", "seeds": [8, 9], "format": "json"})
    texts = [_text(base64.b64decode(image["png_base64"])) for image in r.json()["images"]]
    assert [t["seeds"] for t in texts] == ["8", "9"]
    assert {t["weights_sha256"] for t in texts} == {r.headers["x-weights-sha256"]}
    assert "labels" not in texts[0]  # an unconditional model has none


def test_a_seed_url_carries_its_facts_whether_rendered_or_cached(client):
    url, params = "/models/bars-cond/seeds/42.png", {"label": "bar-3", "version": "2"}
    first, cached = client.get(url, params=params), client.get(url, params=params)
    assert first.content == cached.content
    text = _text(first.content)
    assert (text["seeds"], text["labels"], text["version"]) == ("42", '"bar-3"', "000002")
    assert text["weights_sha256"] == _weights(client, "bars-cond", "000002") == cached.headers["x-weights-sha256"]


WALK = {"model": "bars-cond", "start": {"seed": 1, "label": 0}, "end": {"seed": 2, "label": "bar-3"}, "steps": 3}


def test_a_walks_png_strip_names_both_ends(client):
    r = client.post("/interpolate", json=WALK)
    text = _text(r.content)
    assert (text["seeds"], text["labels"]) == ("1,2", '"bar-0","bar-3"')
    assert r.headers["x-seeds"] == "1,2"


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_an_animated_walk_carries_the_facts_its_format_allows(client, fmt):
    r = client.post("/interpolate", json={**WALK, "format": fmt})
    image = Image.open(io.BytesIO(r.content))
    assert image.n_frames == 3
    sha = r.headers["x-weights-sha256"]
    if fmt == "gif":
        comment = json.loads(image.info["comment"])
        assert comment["weights_sha256"] == sha and comment["seeds"] == "1,2"
    else:
        xmp = image.info["xmp"].decode()
        assert f'gan:weights_sha256="{sha}"' in xmp and 'gan:model="bars-cond"' in xmp


def test_a_walks_json_frames_each_carry_the_facts(client):
    r = client.post("/interpolate", json={**WALK, "format": "json"})
    assert {_text(base64.b64decode(f))["seeds"] for f in r.json()["frames"]} == {"1,2"}


def test_arithmetic_names_each_terms_seeds_and_each_images_label(client):
    r = client.post("/arithmetic", json={"model": "bars-cond", "terms": [
        {"seeds": [1, 2], "label": 1}, {"weight": -1, "seeds": [3], "label": 1}]})
    text = _text(r.content)
    assert text["seeds"] == "[1,2],[3]" == r.headers["x-seeds"]
    assert text["labels"] == '"bar-1","bar-1","bar-1"'  # each term's, then the result's


def test_a_versions_sample_grid_names_the_version_and_its_weights(client):
    r = client.get("/models/bars-cond/versions/000001/samples.png")
    text = _text(r.content)
    assert (text["model"], text["version"]) == ("bars-cond", "000001")
    assert text["weights_sha256"] == _weights(client, "bars-cond", "000001") == r.headers["x-weights-sha256"]
    assert "seeds" not in text and "immutable" in r.headers["cache-control"]
