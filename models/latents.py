"""Latent vectors: seeds to latents, truncation, and walks between latents (slerp and lerp)."""

from __future__ import annotations

import torch


def seed_latent(seed: int, latent_dim: int) -> torch.Tensor:
    """The latent of a seed: its own CPU generator, so the result depends on nothing but (seed, dim)."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(latent_dim, generator=generator)


def seed_latents(seeds: list[int], latent_dim: int) -> torch.Tensor:
    """(len(seeds), latent_dim): each row drawn from its own seeded generator, whatever the batch."""
    return torch.stack([seed_latent(s, latent_dim) for s in seeds]) if seeds else torch.empty(0, latent_dim)


def truncate(latents: torch.Tensor, truncation: float) -> torch.Tensor:
    """Pull latents toward the mean of the prior (0) by `truncation` (1.0 leaves them as they are)."""
    return latents if truncation == 1.0 else latents * truncation


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return a + (b - a) * t[:, None]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation: keeps intermediate latents at the norm a Gaussian prior expects."""
    a64, b64 = a.double(), b.double()
    cos = torch.dot(a64, b64) / (a64.norm() * b64.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-6:  # nearly parallel: slerp degenerates to lerp
        return lerp(a, b, t)
    t64 = t.double()[:, None]
    out = (torch.sin((1 - t64) * omega) * a64 + torch.sin(t64 * omega) * b64) / torch.sin(omega)
    return out.to(a.dtype)


def walk(a: torch.Tensor, b: torch.Tensor, steps: int, method: str) -> torch.Tensor:
    """(steps, latent_dim) from a to b inclusive."""
    t = torch.linspace(0.0, 1.0, steps)
    if method == "slerp":
        return slerp(a, b, t)
    if method == "lerp":
        return lerp(a, b, t)
    raise ValueError("method must be 'slerp' or 'lerp'")


def walk_labels(start: int, end: int, steps: int, classes: int) -> torch.Tensor:
    """(steps, classes) class vectors from one class to another, walked as `walk` walks the latents."""
    t = torch.linspace(0, 1, steps)[:, None]
    one_hot = torch.nn.functional.one_hot
    return (1 - t) * one_hot(torch.tensor(start), classes) + t * one_hot(torch.tensor(end), classes)
