"""A model trained on uniform latents, over real HTTP: its prior is listed, its seeds are drawn from the cube,
its walks default to lerp, and latents outside the cube are refused naming the field."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoint import read_metadata
from models.latents import PRIORS
from models.registry import Registry
from tests.conftest import make_app
from tests.support import LiveServer, train_tiny

torch.set_num_threads(1)
DIM = 8


@pytest.fixture(scope="module")
def registry_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("priors")
    train_tiny(root, "cube", "dcgan", steps=2, image_size=16, latent_dim=DIM, latent_distribution="uniform")
    train_tiny(root, "ball", "dcgan", steps=2, image_size=16, latent_dim=DIM)
    return root


@pytest.fixture(scope="module")
def client(registry_root, redis_server):
    with LiveServer(make_app(registry_root, redis_server.url)) as live:
        with live.client() as client:
            yield client


def _uniform_latent(seed: int) -> list[float]:
    return PRIORS["uniform"].seed_latents([seed], DIM)[0].tolist()


def _pixels(png: bytes) -> np.ndarray:
    """The image alone: PNGs carry their provenance (seeds or latents) in text chunks."""
    return np.asarray(Image.open(io.BytesIO(png)))


def _frames(client, **body) -> list[str]:
    r = client.post("/interpolate", json={"model": "cube", "start": {"seed": 1}, "end": {"seed": 2}, "steps": 4,
                                          "format": "json", **body})
    assert r.status_code == 200, r.text
    return r.json()["frames"]


def test_the_prior_is_recorded_in_metadata_and_listed(client, registry_root):
    registry = Registry(registry_root)
    assert read_metadata(registry.path("cube", registry.latest("cube")))["latent_distribution"] == "uniform"
    assert client.get("/models/cube").json()["latent_distribution"] == "uniform"
    listed = {m["name"]: m["latent_distribution"] for m in client.get("/models").json()["models"]}
    assert listed == {"cube": "uniform", "ball": "normal"}


def test_a_seed_is_drawn_from_the_cube(client):
    by_seed = client.post("/generate", json={"model": "cube", "seeds": [3]})
    by_latent = client.post("/generate", json={"model": "cube", "latents": [_uniform_latent(3)]})
    assert by_seed.status_code == by_latent.status_code == 200, by_latent.text
    assert np.array_equal(_pixels(by_seed.content), _pixels(by_latent.content))
    assert np.array_equal(_pixels(client.get("/models/cube/seeds/3.png").content), _pixels(by_seed.content))
    normal = client.post("/generate", json={"model": "cube", "latents": [PRIORS["normal"].seed_latents([3], DIM)[0]
                                                                           .clamp(-1, 1).tolist()]})
    assert not np.array_equal(_pixels(normal.content), _pixels(by_seed.content))


def test_truncation_scales_a_uniform_latent_toward_the_centre(client):
    truncated = client.post("/generate", json={"model": "cube", "seeds": [3], "truncation": 0.5})
    scaled = client.post("/generate", json={"model": "cube", "latents": [[v * 0.5 for v in _uniform_latent(3)]]})
    assert truncated.status_code == scaled.status_code == 200, truncated.text
    assert np.array_equal(_pixels(truncated.content), _pixels(scaled.content))


def test_a_uniform_model_walks_by_lerp_unless_asked_for_slerp(client):
    assert _frames(client) == _frames(client, method="lerp")
    assert _frames(client, method="slerp") != _frames(client, method="lerp")


def test_the_corners_of_the_cube_are_valid_latents(client):
    corner = [1.0, -1.0] * (DIM // 2)
    assert client.post("/generate", json={"model": "cube", "latents": [corner]}).status_code == 200


@pytest.mark.parametrize("path,body,field", [
    ("/generate", {"latents": [[0.0] * DIM, [0.0] * (DIM - 1) + [1.5]]}, ["latents", "1"]),
    ("/interpolate", {"start": {"latent": [-1.01] + [0.0] * (DIM - 1)}, "end": {"seed": 2}},
     ["start", "latent", "0"]),
    ("/arithmetic", {"terms": [{"seeds": [1]}, {"weight": -1, "latents": [[2.0] * DIM]}]},
     ["terms", "1", "latents", "0"]),
])
def test_a_latent_outside_the_cube_is_422_naming_the_field(client, path, body, field):
    r = client.post(path, json={"model": "cube", **body})
    assert r.status_code == 422, r.text
    error = r.json()["detail"][0]
    assert error["loc"] == ["body", *field] and "outside [-1, 1]" in error["msg"], r.text


def test_a_normal_model_takes_latents_beyond_the_cube(client):
    assert client.post("/generate", json={"model": "ball", "latents": [[2.5] * DIM]}).status_code == 200


def test_an_unknown_distribution_is_422_naming_the_field(client):
    r = client.post("/train", json={"model": "new", "dataset": {"kind": "synthetic"},
                                    "latent_distribution": "gaussian"})
    assert r.status_code == 422, r.text
    assert any("latent_distribution" in map(str, e["loc"]) for e in r.json()["detail"]), r.text
    assert "'normal' or 'uniform'" in r.text


def test_a_job_that_would_change_the_prior_of_a_model_is_refused(client):
    r = client.post("/train", json={"model": "cube", "dataset": {"kind": "synthetic"}, "architecture": "dcgan",
                                    "image_size": 16, "latent_dim": DIM, "latent_distribution": "normal"})
    assert r.status_code == 422 and "latent_distribution: normal, not uniform" in r.text, r.text
