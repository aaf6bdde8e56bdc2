"""Vector arithmetic on latents, as in the DCGAN paper: A - B + C on the mean latents of groups of images, and
variations around the result that show it is a region of the latent space, not a point."""

from __future__ import annotations

import torch


def combine(means: torch.Tensor, weights: list[float]) -> torch.Tensor:
    """(terms, latent_dim) mean latents and one weight per term -> the (latent_dim,) weighted sum."""
    assert means.ndim == 2 and len(weights) == len(means), f"{tuple(means.shape)} means, {len(weights)} weights"
    return sum(w * m for w, m in zip(weights, means))


def variations(result: torch.Tensor, count: int, scale: float, seed: int) -> torch.Tensor:
    """(count, latent_dim) latents around `result`, each coordinate moved by uniform noise within +-scale (the
    paper's 0.25); the same seed gives the same variations."""
    noise = torch.rand(count, len(result), generator=torch.Generator().manual_seed(seed))
    return result + (noise * 2 - 1) * scale
