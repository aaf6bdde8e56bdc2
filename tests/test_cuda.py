"""Training and serving on a CUDA GPU, for real: skipped where there is none (scripts/gpu_check.sh runs them)."""

import pytest
import torch

from models import checkpoint
from tests.conftest import make_app
from tests.support import LiveServer, train_tiny

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_a_few_training_steps_on_cuda_publish_versions_that_load_on_cuda(tmp_path):
    versions = train_tiny(tmp_path, "on-gpu", "dcgan", steps=6, checkpoint_every=3, device=torch.device("cuda"))
    assert versions == ["000001", "000002"]
    generator, metadata = checkpoint.load_generator(tmp_path / "on-gpu" / "000002", torch.device("cuda"))
    assert next(generator.parameters()).is_cuda and metadata["step"] == 6


def test_the_api_serves_generation_on_cuda(tmp_path):
    train_tiny(tmp_path, "served", "cdcgan", steps=4, device=torch.device("cuda"))
    with LiveServer(make_app(tmp_path, device="cuda")) as server, server.client() as client:
        r = client.post("/generate", json={"model": "served", "seeds": [1, 2], "labels": [0, 1]})
        assert r.status_code == 200, r.text
        assert client.get("/models/served/seeds/1.png?label=0").content[:8] == b"\x89PNG\r\n\x1a\n"
        ready = client.get("/readyz").json()
        assert ready["device"] == "cuda" and ready["models_loaded"][0]["model"] == "served"
