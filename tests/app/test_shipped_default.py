"""A fresh clone serves the shipped conditional DCGAN with an empty registry."""

import io

import numpy as np
from PIL import Image

from app.main import create_app
from app.settings import Settings
from tests.support import LiveServer


def test_the_shipped_default_is_served_from_an_empty_registry(tmp_path):
    settings = Settings(registry_dir=tmp_path / "empty", redis_url="redis://127.0.0.1:1/0")
    with LiveServer(create_app(settings, inference_in_process=True)) as server, server.client() as client:
        models = {m["name"]: m for m in client.get("/models").json()["models"]}
        default = models["fashion-cdcgan"]
        assert default["conditional"] and "Sneaker" in default["classes"]
        assert default["image"] == {"height": 28, "width": 28, "channels": 1}
        r = client.get("/models/fashion-cdcgan/seeds/42.png", params={"label": "Trouser"})
        assert r.status_code == 200
        pixels = np.asarray(Image.open(io.BytesIO(r.content)))
        assert pixels.shape == (28, 28) and pixels.std() > 20  # an image, not a flat field


def test_the_shipped_default_draws_the_requested_class(tmp_path):
    """The README's promise: curl /generate with a class and get a recognisable item of that class, as judged
    by the project's shipped Fashion-MNIST classifier (0.92 on the real test split)."""
    import base64

    import torch

    from models.evaluator import load_evaluator

    settings = Settings(registry_dir=tmp_path / "empty", redis_url="redis://127.0.0.1:1/0")
    images, wanted = [], []
    with LiveServer(create_app(settings, inference_in_process=True)) as server, server.client() as client:
        classes = client.get("/models/fashion-cdcgan").json()["classes"]
        for index, name in enumerate(classes):
            body = client.post("/generate", json={"model": "fashion-cdcgan", "seeds": list(range(20)),
                                                  "labels": [name], "format": "json"}).json()
            for item in body["images"]:
                pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(item["png_base64"]))))
                images.append(pixels)
                wanted.append(index)
    x = torch.from_numpy(np.stack(images))[:, None].float().div(127.5).sub(1.0)
    _, logits = load_evaluator()(x)
    per_class = (logits.argmax(1) == torch.tensor(wanted)).float().view(len(classes), -1).mean(1)
    assert per_class.mean() >= 0.85, per_class
    assert per_class.min() >= 0.5, dict(zip(classes, per_class.tolist()))
