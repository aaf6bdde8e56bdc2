"""GAN_DEVICE is honoured, and a CUDA device that is not there stops the API at start with the reason."""

import os
import subprocess
import sys

import pytest
import torch

from tests.conftest import make_app
from tests.support import REPO_ROOT, LiveServer, free_port


def test_device_cpu_is_honoured(tiny_registry):
    app = make_app(tiny_registry, device="cpu")
    with LiveServer(app) as server, server.client() as client:
        assert client.get("/readyz").json()["device"] == "cpu"
        r = client.post("/generate", json={"model": "bars", "seeds": [1]})
        assert r.status_code == 200


def test_half_precision_inference_serves_images_from_the_same_seeds(tiny_registry):
    app = make_app(tiny_registry, device="cpu", inference_precision="bf16")
    with LiveServer(app) as server, server.client() as client:
        r = client.post("/generate", json={"model": "bars", "seeds": [1, 2], "format": "json"})
        assert r.status_code == 200 and len(r.json()["images"]) == 2
        [loaded] = client.get("/readyz").json()["models_loaded"]
        assert loaded["precision"] == "bf16"  # within the tolerance of fp32 on the probe, so kept


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_an_unavailable_cuda_device_stops_the_api_at_start_with_the_reason(tmp_path):
    env = {**os.environ, "GAN_DEVICE": "cuda", "GAN_REGISTRY_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(free_port())],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "GAN_DEVICE: device 'cuda' was asked for but CUDA is not available" in run.stderr
