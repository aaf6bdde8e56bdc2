"""A fresh clone serves the shipped conditional DCGAN with an empty registry."""

import io

import numpy as np
from PIL import Image

from app.main import create_app
from app.settings import SHIPPED_REGISTRY, Settings
from tests.support import LiveServer


def test_the_shipped_default_is_served_from_an_empty_registry(tmp_path):
    settings = Settings(registry_dir=tmp_path / "empty", shipped_registry_dir=SHIPPED_REGISTRY,
                        redis_url="redis://127.0.0.1:1/0")
    with LiveServer(create_app(settings)) as server, server.client() as client:
        models = {m["name"]: m for m in client.get("/models").json()["models"]}
        default = models["fashion-cdcgan"]
        assert default["conditional"] and "Sneaker" in default["classes"]
        assert default["image"] == {"height": 28, "width": 28, "channels": 1}
        r = client.get("/models/fashion-cdcgan/seeds/42.png", params={"label": "Trouser"})
        assert r.status_code == 200
        pixels = np.asarray(Image.open(io.BytesIO(r.content)))
        assert pixels.shape == (28, 28) and pixels.std() > 20  # an image, not a flat field
