"""The evaluation protocol on real networks: extractor pinning, references, and what metrics say."""

import gzip
import json
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from models import evaluation
from models.evaluator import EvaluatorError, FashionCNN, load_evaluator, random_features, sha256_file

torch.set_num_threads(1)


def _write_evaluator(directory, version="test-cnn-v1"):
    torch.manual_seed(0)
    net = FashionCNN().eval()
    weights = directory / f"{version}.safetensors"
    save_file(net.state_dict(), str(weights))
    (directory / f"{version}.json").write_text(json.dumps({
        "version": version, "sha256": sha256_file(weights), "num_classes": 10, "feature_dim": 128,
        "test_accuracy": 0.1}))
    return weights


def test_the_extractor_loads_when_its_hash_matches(tmp_path):
    _write_evaluator(tmp_path)
    extractor = load_evaluator("test-cnn-v1", tmp_path)
    features, logits = extractor(torch.zeros(3, 1, 28, 28))
    assert extractor.version == "test-cnn-v1" and features.shape == (3, 128) and logits.shape == (3, 10)


def test_changed_extractor_weights_are_refused_not_retrained(tmp_path):
    weights = _write_evaluator(tmp_path, "tampered-v1")
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(EvaluatorError, match="sha256"):
        load_evaluator("tampered-v1", tmp_path)


def test_a_missing_extractor_names_the_script_that_trains_it(tmp_path):
    with pytest.raises(EvaluatorError, match="train_evaluator"):
        load_evaluator("nope-v1", tmp_path)


def test_the_random_feature_network_is_fixed_by_its_seed():
    x = torch.rand(4, 3, 20, 24) * 2 - 1
    a, _ = random_features(3)(x)
    b, _ = random_features(3)(x)
    assert torch.equal(a, b) and a.shape == (4, 256)


class Replay(nn.Module):
    """A 'generator' that returns real images, one per latent: metrics must call it near perfect."""

    def __init__(self, images: torch.Tensor):
        super().__init__()
        self.images = images

    def forward(self, z, labels=None):
        index = (z[:, 0].abs() * 1e6).long() % self.images.shape[0]
        return self.images[index]


class Constant(nn.Module):
    def forward(self, z, labels=None):
        return torch.zeros(z.shape[0], 1, 16, 16)


def _bars(count=400):
    from worker.datasets import synthetic
    return synthetic(16, 16, 1, count=count).images


def test_samples_of_the_real_distribution_score_near_the_floor():
    images = _bars()
    reference = evaluation.dataset_reference(images[:200], "bars")
    replay = Replay(images[200:].float() / 127.5 - 1)
    out = evaluation.evaluate(replay, 8, 0, reference, 200, kid_subsets=10)
    constant = evaluation.evaluate(Constant(), 8, 0, reference, 200, kid_subsets=10)
    assert out["n"] == 200 and out["coverage"] > 0.5 and not out["constant"]
    assert constant["constant"] and constant["coverage"] < 0.05 and constant["fd"] > 5 * out["fd"]


def test_conditional_sampling_is_balanced_over_classes():
    images, labels = evaluation.sample(Constant(), 8, 10, 1000)
    assert images.shape[0] == 1000 and np.bincount(labels.numpy()).tolist() == [100] * 10


def test_nan_samples_are_reported_without_figures():
    class Broken(nn.Module):
        def forward(self, z, labels=None):
            return torch.full((z.shape[0], 1, 16, 16), float("nan"))

    reference = evaluation.dataset_reference(_bars(100), "bars")
    out = evaluation.evaluate(Broken(), 8, 0, reference, 50)
    assert out["nan"] and "fd" not in out and out["notes"]


def test_a_time_budget_scores_fewer_samples_and_says_so():
    reference = evaluation.dataset_reference(_bars(100), "bars")

    class Slow(Constant):
        def forward(self, z, labels=None):
            import time
            time.sleep(0.05)
            return torch.rand(z.shape[0], 1, 16, 16) * 2 - 1

    out = evaluation.evaluate(Slow(), 8, 0, reference, 2000, time_budget_s=0.01, kid_subsets=2)
    assert out["n"] == evaluation.SAMPLE_BATCH and any("time budget" in n for n in out["notes"])


def test_the_fashion_reference_is_cached_on_disk_by_extractor_version(tmp_path):
    _write_evaluator(tmp_path, "cache-v1")
    data = tmp_path / "fmnist"
    data.mkdir()
    rng = np.random.default_rng(0)
    for name, array in (("t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (30, 28, 28))),
                        ("t10k-labels-idx1-ubyte.gz", np.arange(30) % 10)):
        header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
        with gzip.open(data / name, "wb") as f:
            f.write(header + array.astype(np.uint8).tobytes())
    extractor = load_evaluator("cache-v1", tmp_path)
    reference = evaluation.fashion_mnist_reference(data, tmp_path / "cache", extractor)
    assert (tmp_path / "cache" / "cache-v1-fashion-mnist-test.npz").is_file()
    assert reference.features.shape == (30, 128)
