"""POST /models/{name}/features over real HTTP: the trained discriminator's penultimate features of uploaded
PNGs, as JSON or raw float32, batched through the engine, and a 422 that says what to fix for bad images."""

import base64
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from models import checkpoint, images as imaging
from tests.conftest import make_app
from tests.support import LiveServer, train_tiny

RNG = np.random.default_rng(0)


def pngs(count: int, height: int, width: int, channels: int) -> list[bytes]:
    return [imaging.encode_png(RNG.integers(0, 256, (height, width, channels), dtype=np.uint8)) for _ in range(count)]


def b64(images: list[bytes]) -> list[str]:
    return [base64.b64encode(p).decode() for p in images]


def expected_features(registry, model: str, images: list[bytes], labels=None) -> np.ndarray:
    """What the version's own discriminator, loaded here from its file, makes of the images."""
    version = sorted(p for p in (registry / model).iterdir() if p.name.isdigit())[-1]
    discriminator, metadata = checkpoint.load_discriminator(version)
    shape = metadata["image"]
    pixels = np.stack([imaging.decode_png(p, shape["height"], shape["width"], shape["channels"]) for p in images])
    with torch.no_grad():
        return discriminator.features(imaging.from_uint8(torch.from_numpy(pixels)),
                                      None if labels is None else torch.tensor(labels)).numpy()


def test_json_multipart_and_raw_answers_are_the_trained_discriminators_features(live, tiny_registry):
    images = pngs(3, 16, 24, 3)
    expected = expected_features(tiny_registry, "bars", images)

    r = live.post("/models/bars/features", json={"images": b64(images)})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["shape"] == list(expected.shape) and answer["shape"][0] == 3
    np.testing.assert_allclose(answer["features"], expected, rtol=1e-4, atol=1e-5)
    assert r.headers["x-shape"] == f"3,{expected.shape[1]}"

    r = live.post("/models/bars/features", files=[("images", (f"{i}.png", p, "image/png")) for i, p in enumerate(images)],
                  headers={"Accept": "application/octet-stream"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    rows, features = map(int, r.headers["x-shape"].split(","))
    raw = np.frombuffer(r.content, dtype="<f4").reshape(rows, features)
    np.testing.assert_allclose(raw, expected, rtol=1e-4, atol=1e-5)


def test_conditional_models_take_a_label_per_image(live, tiny_registry):
    images = pngs(2, 32, 32, 1)
    r = live.post("/models/bars-cond/features", data={"labels": ["1", "0"]},
                  files=[("images", ("a.png", images[0], "image/png")), ("images", ("b.png", images[1], "image/png"))])
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["features"], expected_features(tiny_registry, "bars-cond", images, [1, 0]),
                               rtol=1e-4, atol=1e-5)
    # the label changes what D sees, so it changes the features
    other = live.post("/models/bars-cond/features", json={"images": b64(images), "labels": [0]}).json()["features"]
    assert not np.allclose(other[0], r.json()["features"][0])


def test_requests_sent_together_share_forwards_and_keep_their_own_rows(live, tiny_registry):
    requests = [pngs(2, 16, 24, 3) for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda images: live.post("/models/bars/features", json={"images": b64(images)}),
                                requests))
    for images, r in zip(requests, answers):
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["features"], expected_features(tiny_registry, "bars", images),
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("body, field, message", [
    ({"images": b64(pngs(1, 16, 16, 3))}, "images.0", "is 16x16; this model takes 24x16"),
    ({"images": b64(pngs(1, 16, 24, 1))}, "images.0", "3-channel images"),
    ({"images": [base64.b64encode(b"GIF89a...").decode()]}, "images.0", "not a PNG"),
    ({"images": ["not base64!"]}, "images.0", "not base64"),
    ({"images": []}, "images", "at least one image"),
    ({"images": b64(pngs(1, 16, 24, 3)), "labels": [1]}, "labels.0", "unconditional"),
    ({"images": b64(pngs(65, 16, 24, 3))}, "images", "at most 64"),
    ({"pictures": []}, "images", "Field required"),
])
def test_bad_images_get_a_422_that_says_what_to_fix(live, body, field, message):
    r = live.post("/models/bars/features", json=body)
    assert r.status_code == 422, r.text
    [detail] = r.json()["detail"]
    assert detail["loc"][-len(field.split(".")):] == field.split(".") and message in detail["msg"], detail


def test_conditional_labels_are_checked(live):
    images = b64(pngs(2, 32, 32, 1))
    for labels, message in [(None, "is conditional"), (["Nothing"], "unknown class"), ([1, 2, 3], "one per image")]:
        r = live.post("/models/bars-cond/features", json={"images": images} | ({"labels": labels} if labels else {}))
        assert r.status_code == 422 and message in r.text, r.text
    r = live.post("/models/bars-cond/features", files=[("pictures", ("a.png", b"x", "image/png"))])
    assert r.status_code == 422 and "form field `images`" in r.text


def test_a_version_published_without_its_discriminator_says_so(tmp_path, redis_server):
    [version] = train_tiny(tmp_path, "old", "dcgan", steps=2)
    directory = tmp_path / "old" / version
    metadata = json.loads((directory / checkpoint.METADATA).read_text())
    del metadata["files"][checkpoint.DISCRIMINATOR]
    (directory / checkpoint.DISCRIMINATOR).unlink()
    (directory / checkpoint.METADATA).write_text(json.dumps(metadata))
    with LiveServer(make_app(tmp_path, redis_server.url)) as server, server.client() as client:
        r = client.post("/models/old/features", json={"images": b64(pngs(1, 32, 32, 1))})
        assert r.status_code == 422 and "without its discriminator" in r.text, r.text
        assert client.post("/generate", json={"model": "old", "seeds": [1]}).status_code == 200
