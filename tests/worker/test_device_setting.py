"""A worker refuses to start on a device that is not there, naming the setting and the reason."""

import os
import subprocess
import sys

import pytest
import torch

from tests.support import REPO_ROOT


def _start_worker(tmp_path, device: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GAN_DEVICE": device, "GAN_REGISTRY_DIR": str(tmp_path),
           "GAN_REDIS_URL": "redis://127.0.0.1:1/0"}  # never reached: the check comes first
    return subprocess.run([sys.executable, "-m", "worker"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_an_unavailable_cuda_device_stops_the_worker_at_start(tmp_path):
    run = _start_worker(tmp_path, "cuda")
    assert run.returncode == 2
    assert "GAN_DEVICE: device 'cuda' was asked for but CUDA is not available" in run.stderr


def test_a_malformed_device_stops_the_worker_with_the_valid_list(tmp_path):
    run = _start_worker(tmp_path, "gpu0")
    assert run.returncode == 2
    assert "unknown device 'gpu0'; valid: auto, cpu, cuda, cuda:N" in run.stderr
