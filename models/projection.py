"""Projection: the latent whose rendering matches a given image, found by gradient descent on the latent.

The generator's weights stay fixed; only z moves. The loss is the pixels' mean squared error plus, where the
version keeps its discriminator, the squared distance between the discriminator's features of the rendering
and of the image (scaled by the image's own feature energy, so the weight means the same for every model):
pixels alone pull toward a blurred average, the features toward an image the discriminator sees as the same
thing. The search starts from the best of a few seeded random latents, since descent from a poor start
settles in a poor basin, and returns the best latent it met, not the last.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from models.images import to_uint8
from models.latents import NORMAL, Prior

CANDIDATES = 32  # random starts compared by pixel error before the descent
FEATURE_WEIGHT = 0.1  # the features' share of the loss beside the pixels' MSE (bench/projection.py)
LEARNING_RATE = 0.05  # Adam on z: ~200 steps settle on Fashion-MNIST-sized models


@dataclass
class Projection:
    latent: torch.Tensor  # (latent_dim,)
    image: torch.Tensor  # (C, H, W) in [-1, 1], the rendering of `latent`
    losses: list[dict[str, float]] = field(default_factory=list)  # per step: total, pixels, features
    steps: int = 0
    seconds: float = 0.0
    loss: str = "pixels"  # what the search minimised

    def pixels(self) -> np.ndarray:
        """The rendering as (H, W, C) uint8."""
        return to_uint8(self.image[None])[0]


def project(generator: nn.Module, target: torch.Tensor, latent_dim: int, label: torch.Tensor | None = None,
            discriminator: nn.Module | None = None, steps: int = 200, seconds: float = 30.0, seed: int = 0,
            feature_weight: float = FEATURE_WEIGHT, lr: float = LEARNING_RATE, prior: Prior = NORMAL,
            on_step: Callable[[int, dict[str, float]], bool] | None = None) -> Projection:
    """`target` (C, H, W) in [-1, 1]; `label` a (1,) class index for conditional models. Stops after `steps`
    steps or `seconds`, whichever comes first. The starts come from the version's `prior`, and every step stays
    within its support (a uniform model's cube), so the latent is one the service accepts back. `on_step(step,
    losses)` is told of every step and stops the search by answering False (a canceled job)."""
    started = time.perf_counter()
    target = target[None]
    labels = None if label is None else label.reshape(1)
    with torch.no_grad():
        candidates = prior.seed_latents(list(range(seed, seed + CANDIDATES)), latent_dim)
        errors = (generator(candidates, None if labels is None else labels.expand(CANDIDATES)) - target)
        start = candidates[errors.pow(2).flatten(1).mean(1).argmin()]
        target_features = None if discriminator is None else discriminator.features(target, labels)
        scale = None if target_features is None else target_features.pow(2).mean().clamp_min(1e-8)
    z = start.clone()[None].requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    result = Projection(latent=start.clone(), image=torch.empty(0),
                        loss="pixels" if discriminator is None else "pixels + discriminator features")
    best = float("inf")
    for step in range(steps):
        image = generator(z, labels)
        pixels = (image - target).pow(2).mean()
        loss, record = pixels, {"pixels": pixels.item()}
        if target_features is not None:
            features = (discriminator.features(image, labels) - target_features).pow(2).mean() / scale
            loss = loss + feature_weight * features
            record["features"] = features.item()
        record["total"] = loss.item()
        result.losses.append(record)
        if record["total"] < best:
            best, result.latent = record["total"], z.detach()[0].clone()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            z.copy_(prior.contain(z))
        result.steps = step + 1
        if time.perf_counter() - started > seconds or (on_step is not None and on_step(step + 1, record) is False):
            break
    with torch.no_grad():
        result.image = generator(result.latent[None], labels)[0]
    result.seconds = time.perf_counter() - started
    return result


def pixel_mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error of two uint8 images, on pixels in [0, 1]."""
    return float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2) / 255**2)
