"""POST /project over real HTTP: a real image projected into the shipped default's latent space, whose latent
then walks and adds like any other; bad uploads get a 422 that says what to fix."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from app.main import create_app
from app.settings import Settings
from models import idx, images as imaging
from tests.support import LiveServer

FASHION = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = Settings(registry_dir=tmp_path_factory.mktemp("empty"), redis_url="redis://127.0.0.1:1/0")
    with LiveServer(create_app(settings, inference_in_process=True)) as server, server.client() as client:
        yield client


@pytest.fixture(scope="module")
def sneaker() -> tuple[bytes, np.ndarray]:
    from pathlib import Path
    images, labels = idx.read_split(Path(FASHION), "test")
    index = int(np.flatnonzero(labels == 7)[0])
    return imaging.encode_png(images[index][:, :, None]), images[index]


def decoded(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))), dtype=np.float32) / 255


def test_a_real_sneaker_is_projected_and_its_latent_walks_and_adds(client, sneaker):
    png, pixels = sneaker
    r = client.post("/project", data={"model": "fashion-cdcgan", "label": "Sneaker", "steps": "60"},
                    files={"image": ("sneaker.png", png, "image/png")})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["steps"] == 60 and len(answer["losses"]) == 60 and answer["label"] == "Sneaker"
    assert answer["loss"] == "pixels + discriminator features"
    assert answer["losses"][-1]["total"] < answer["losses"][0]["total"]
    reconstruction = decoded(answer["reconstruction_png_base64"])
    assert abs(float(np.mean((reconstruction - pixels / 255) ** 2)) - answer["mse"]) < 1e-3
    # far closer to the photo than a random sneaker of the model
    random = client.post("/generate", json={"model": "fashion-cdcgan", "seeds": [99], "labels": ["Sneaker"]})
    random_mse = float(np.mean((np.asarray(Image.open(io.BytesIO(random.content)), np.float32) / 255 - pixels / 255) ** 2))
    assert answer["mse"] < random_mse / 2, (answer["mse"], random_mse)

    latent = answer["latent"]
    walk = client.post("/interpolate", json={"model": "fashion-cdcgan", "start": {"latent": latent, "label": "Sneaker"},
                                             "end": {"seed": 3, "label": "Sandal"}, "steps": 4, "format": "json"})
    assert walk.status_code == 200, walk.text
    first = decoded(walk.json()["frames"][0])
    assert np.abs(first - reconstruction).max() <= 8 / 255  # the walk starts at the projection (bf16 serving)
    added = client.post("/arithmetic", json={"model": "fashion-cdcgan", "format": "json", "terms": [
        {"latents": [latent], "label": "Sneaker"}, {"weight": 0.5, "seeds": [1, 2, 3], "label": "Sneaker"}]})
    assert added.status_code == 200, added.text


def test_json_with_a_base64_png_works_the_same(client, sneaker):
    png, _ = sneaker
    r = client.post("/project", json={"model": "fashion-cdcgan", "label": 7, "steps": 5,
                                      "image": base64.b64encode(png).decode()})
    assert r.status_code == 200 and r.json()["steps"] == 5, r.text


@pytest.mark.parametrize("fields, files, where, message", [
    ({"model": "fashion-cdcgan", "label": "Sneaker"}, {"image": ("a.png", imaging.encode_png(np.zeros((32, 32, 1), np.uint8)), "image/png")},
     "image", "this model takes 28x28"),
    ({"model": "fashion-cdcgan", "label": "Sneaker"}, {"image": ("a.jpg", b"\xff\xd8\xff\xe0JFIF", "image/jpeg")}, "image", "not a PNG"),
    ({"model": "fashion-cdcgan", "label": "Spaceship"}, {"image": ("a.png", imaging.encode_png(np.zeros((28, 28, 1), np.uint8)), "image/png")},
     "label", "unknown class"),
    ({"model": "fashion-cdcgan"}, {"image": ("a.png", imaging.encode_png(np.zeros((28, 28, 1), np.uint8)), "image/png")},
     "label", "is conditional"),
    ({"model": "fashion-cdcgan", "label": "Bag", "steps": "100000"},
     {"image": ("a.png", imaging.encode_png(np.zeros((28, 28, 1), np.uint8)), "image/png")}, "steps", "less than or equal"),
    ({"model": "fashion-cdcgan", "label": "Bag"}, {"picture": ("a.png", b"", "image/png")}, "image", "form field `image`"),
])
def test_bad_uploads_get_a_422_that_says_what_to_fix(client, fields, files, where, message):
    r = client.post("/project", data=fields, files=files)
    assert r.status_code == 422, r.text
    [detail] = r.json()["detail"]
    assert detail["loc"][-1] == where and message in detail["msg"], detail


def test_two_images_are_one_too_many_and_an_unknown_model_is_a_404(client, sneaker):
    png, _ = sneaker
    r = client.post("/project", data={"model": "fashion-cdcgan", "label": "Bag"},
                    files=[("image", ("a.png", png, "image/png")), ("image", ("b.png", png, "image/png"))])
    assert r.status_code in (400, 422) and "1" in r.text, r.text
    r = client.post("/project", data={"model": "no-such-model"}, files={"image": ("a.png", png, "image/png")})
    assert r.status_code == 404, r.text
