"""A fresh clone serves the shipped zoo: one trained version per family beside the default, each listed by
/models, answering real images, and carrying its measured quality in its metadata."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.main import create_app
from app.settings import Settings
from models.architectures import ARCHITECTURES
from tests.support import LiveServer

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "shipped"
ZOO = sorted(f"fashion-{family}" for family in ARCHITECTURES)
MAX_BYTES = 40 * 2**20  # the family issue's bound: a clone that stays quick to fetch
# the versions that keep their discriminator (bench/quality.py): the default's, for projections, and dcgan's,
# for the features bench; every family's would pass MAX_BYTES (the MLPs' are 6 MB each)
WITH_DISCRIMINATOR = {"fashion-cdcgan", "fashion-dcgan"}


def test_the_zoo_has_one_model_per_family_and_stays_under_40_mb():
    assert sorted(p.name for p in SHIPPED.iterdir() if p.is_dir()) == ZOO
    assert sum(f.stat().st_size for f in SHIPPED.rglob("*") if f.is_file()) < MAX_BYTES


@pytest.mark.parametrize("name", ZOO)
def test_each_zoo_model_records_the_job_that_made_it_and_its_quality(name):
    [version] = sorted(p for p in (SHIPPED / name).iterdir() if p.is_dir())
    metadata = json.loads((version / "metadata.json").read_text())
    assert metadata["architecture"] == name.removeprefix("fashion-")
    assert metadata["quality"]["fd"] > 0 and "N = 10,000" in metadata["quality"]["protocol"]
    assert "training.safetensors" not in metadata["files"]
    assert ("discriminator.safetensors" in metadata["files"]) == (name in WITH_DISCRIMINATOR)
    assert sorted(p.name for p in version.iterdir()) == sorted([*metadata["files"], "metadata.json"])


def test_a_fresh_clone_lists_and_serves_every_zoo_model(tmp_path):
    settings = Settings(registry_dir=tmp_path / "empty", redis_url="redis://127.0.0.1:1/0")
    with LiveServer(create_app(settings, inference_in_process=True)) as server, server.client() as client:
        models = {m["name"]: m for m in client.get("/models").json()["models"]}
        assert set(ZOO) <= set(models)
        for name in ZOO:
            params = {"label": models[name]["classes"][0]} if models[name]["conditional"] else {}
            r = client.get(f"/models/{name}/seeds/7.png", params=params)
            assert r.status_code == 200, (name, r.text)
            pixels = np.asarray(Image.open(io.BytesIO(r.content)))
            assert pixels.shape == (28, 28) and pixels.std() > 20, name  # an image, not a flat field
