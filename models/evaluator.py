"""The feature extractor behind every quality metric: a small Fashion-MNIST CNN classifier, shipped and pinned.

Two 3x3 convolutions with batch norm (max-pooling after the first, stride 2 in the second), then a 128-unit layer whose ReLU output is the feature vector (FD,
KID, precision/recall/density/coverage), then the 10-way classifier (class histogram, label accuracy).
Weights live in models/evaluator/<version>.safetensors beside <version>.json, which pins their sha256 and
records the test accuracy and the command that trained them. Loading refuses weights whose hash differs:
a retrained extractor is a new version, never a silent replacement.

For datasets it does not fit (colour, other domains) `random_features` gives a fixed, seeded, randomly
initialised convolutional network: its FD compares checkpoints of one dataset and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from models.checkpoint import sha256_file

EVALUATOR_DIR = Path(__file__).resolve().parent / "evaluator"
DEFAULT_VERSION = "fmnist-cnn-v1"
INPUT_SIZE = 28
FEATURE_DIM = 128
RANDOM_FEATURES_VERSION = "random-conv-seed0-v1"


class EvaluatorError(RuntimeError):
    """The shipped extractor is missing or its weights do not match their pinned hash."""


class FashionCNN(nn.Module):
    def __init__(self, num_classes: int = 10, feature_dim: int = FEATURE_DIM, dropout: float = 0.3):
        super().__init__()
        # batch norm makes a few CPU epochs enough; in eval mode it is a fixed affine map
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.norm1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.norm2 = nn.BatchNorm2d(64)
        self.fc = nn.Linear(64 * 7 * 7, feature_dim)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, 1, 28, 28) in [-1, 1]
        x = F.max_pool2d(F.relu(self.norm1(self.conv1(x))), 2)  # (N, 32, 14, 14)
        x = F.relu(self.norm2(self.conv2(x)))  # (N, 64, 7, 7): strided, a third of the pooled version's cost
        return F.relu(self.fc(x.flatten(1)))  # (N, 128): the penultimate features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.features(x)))  # (N, 10) logits


class RandomConvFeatures(nn.Module):
    """A fixed random network for any image size and channel count: 4 strided convs, global average pool."""

    def __init__(self, channels: int, seed: int = 0, width: int = 64):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        layers, c = [], channels
        for out in (width, width * 2, width * 2, width * 4):
            conv = nn.Conv2d(c, out, 3, stride=2, padding=1)
            with torch.no_grad():  # He-normal from our own generator, so the net never depends on global RNG
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator)
                                  * (2.0 / (c * 9)) ** 0.5)
                conv.bias.zero_()
            layers += [conv, nn.LeakyReLU(0.2)]
            c = out
        self.body = nn.Sequential(*layers)
        self.feature_dim = c

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))  # (N, C, H, W) -> (N, 256)


@dataclass(frozen=True)
class Extractor:
    """A loaded feature network with what a metric must record about it."""

    version: str
    network: nn.Module
    classifies: bool  # True: logits are meaningful (class histogram, label accuracy)
    channels: int
    size: int | None  # the side images are resized to; None: any size
    test_accuracy: float | None

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(N, C, H, W) images in [-1, 1] -> (features (N, D) float64, logits (N, K) or None)."""
        features, logits = [], []
        for chunk in images.split(batch_size):
            x = prepare(chunk, self.channels, self.size)
            f = self.network.features(x)
            features.append(f.double())
            if self.classifies:
                logits.append(self.network.classifier(f))
        return torch.cat(features), (torch.cat(logits) if self.classifies else None)


def prepare(images: torch.Tensor, channels: int, size: int | None) -> torch.Tensor:
    """Quantise to 8 bits as real images are, convert channels, resize: (N, C, H, W) in [-1, 1]."""
    x = ((images.float().clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1
    if x.shape[1] != channels:
        x = x.mean(1, keepdim=True) if channels == 1 else x.expand(-1, channels, -1, -1)
    if size is not None and x.shape[2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x


def card(version: str = DEFAULT_VERSION, directory: Path = EVALUATOR_DIR) -> dict:
    """The JSON beside the weights: sha256, test accuracy, training command."""
    path = directory / f"{version}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise EvaluatorError(f"no evaluator {version!r}: {path.name} is missing (train it with "
                             "bench/train_evaluator.py)") from None


_CACHE: dict[tuple[str, Path], Extractor] = {}


def load_evaluator(version: str = DEFAULT_VERSION, directory: Path = EVALUATOR_DIR) -> Extractor:
    """The shipped Fashion-MNIST extractor, after checking its weights against the pinned sha256."""
    key = (version, directory)
    if key in _CACHE:
        return _CACHE[key]
    info = card(version, directory)
    weights = directory / f"{version}.safetensors"
    if not weights.is_file():
        raise EvaluatorError(f"evaluator {version!r} has no weights file {weights.name}")
    actual = sha256_file(weights)
    if actual != info["sha256"]:
        raise EvaluatorError(f"evaluator {version!r}: {weights.name} has sha256 {actual}, its card pins "
                             f"{info['sha256']}; restore the shipped file or train a new version")
    network = FashionCNN(num_classes=info["num_classes"], feature_dim=info["feature_dim"])
    network.load_state_dict(load_file(str(weights)), strict=True)
    extractor = Extractor(version, network.eval().requires_grad_(False), True, 1, INPUT_SIZE,
                          info.get("test_accuracy"))
    _CACHE[key] = extractor
    return extractor


def random_features(channels: int) -> Extractor:
    """The fixed random network for datasets the shipped extractor does not fit."""
    network = RandomConvFeatures(channels).eval().requires_grad_(False)
    return Extractor(f"{RANDOM_FEATURES_VERSION}-c{channels}", network, False, channels, None, None)
