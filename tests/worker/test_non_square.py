"""Non-square colour images (128x160, as in Keras DCGAN practice) train from a folder of image files."""

import numpy as np
import torch
from PIL import Image

from models import checkpoint
from models.spec import TrainSpec
from worker import datasets
from worker.trainer import Callbacks, Trainer

torch.set_num_threads(1)


def _folder(root, count=8):
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = np.zeros((200, 250, 3), dtype=np.uint8)  # another size: the loader resizes
        y, x = rng.integers(0, 150), rng.integers(0, 200)
        pixels[y : y + 50, x : x + 50] = rng.integers(0, 256, 3)
        Image.fromarray(pixels).save(root / f"{i}.png")
    return root


def test_a_128x160_dcgan_trains_on_a_folder_of_images_and_serves_that_shape(tmp_path):
    folder = _folder(tmp_path / "pictures", 8)
    spec = TrainSpec.model_validate({
        "model": "wide", "dataset": {"kind": "folder", "path": str(folder)}, "architecture": "dcgan",
        "image_size": [128, 160], "channels": 3, "batch_size": 4, "base_width": 4, "steps": 2, "checkpoint_every": 2})
    data = datasets.load(spec.dataset, spec.height, spec.width, spec.channels, tmp_path, [tmp_path])
    assert data.images.shape == (8, 3, 128, 160)
    published = []
    Trainer(spec, data, Callbacks(publish=lambda c: published.append(c) or "1"), torch.device("cpu")).run()
    c = published[-1]
    c.write(tmp_path / "v", c.metadata)
    generator, _ = checkpoint.load_generator(tmp_path / "v")
    assert generator(torch.randn(2, 100)).shape == (2, 3, 128, 160)
