"""Latent priors (the distribution a generator's z is drawn from), seeds to latents, truncation, and walks.

A prior is one table entry, so that training, seed URLs, truncation, walks and request checks all read the
same definition. Versions whose metadata names no `latent_distribution` were trained on the normal prior.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

import torch

Distribution = Literal["normal", "uniform"]
WalkMethod = Literal["slerp", "lerp"]


def _normal(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=generator)


def _uniform(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator) * 2 - 1


@dataclass(frozen=True)
class Prior:
    name: str
    summary: str
    draw: Callable[[tuple[int, ...], torch.Generator], torch.Tensor]
    bound: float | None  # every coordinate lies within +-bound; None: unbounded
    walk_method: WalkMethod  # the walk that stays where the prior puts its mass

    def sample(self, count: int, latent_dim: int, generator: torch.Generator) -> torch.Tensor:
        """(count, latent_dim) latents from `generator`, as training draws them."""
        return self.draw((count, latent_dim), generator)

    def seed_latents(self, seeds: list[int], latent_dim: int) -> torch.Tensor:
        """(len(seeds), latent_dim): each row from its own seeded CPU generator, so a seed's latent depends on
        nothing but (seed, dim, prior), whatever the batch."""
        if not seeds:
            return torch.empty(0, latent_dim)
        return torch.stack([self.draw((latent_dim,), torch.Generator(device="cpu").manual_seed(s)) for s in seeds])

    def contain(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents clipped into the prior's support: a slerp or a sum of latents can leave the uniform cube."""
        return latents if self.bound is None else latents.clamp(-self.bound, self.bound)

    def walk(self, a: torch.Tensor, b: torch.Tensor, steps: int, method: WalkMethod | None = None) -> torch.Tensor:
        """(steps, latent_dim) from a to b inclusive, by `method` or the prior's own, within the support."""
        return self.contain(walk(a, b, steps, method or self.walk_method))


PRIORS: dict[str, Prior] = {
    # slerp keeps intermediate latents at the norm a Gaussian puts its mass at; lerp's midpoints are too short
    "normal": Prior("normal", "standard normal, N(0, I)", _normal, bound=None, walk_method="slerp"),
    # the cube is convex, so lerp stays inside it; slerp's arc can bulge out of it and is clipped back
    "uniform": Prior("uniform", "uniform on the cube [-1, 1]^d", _uniform, bound=1.0, walk_method="lerp"),
}
NORMAL = PRIORS["normal"]


def prior_of(metadata: dict[str, Any]) -> Prior:
    """The prior a version was trained on, from its metadata."""
    return PRIORS[metadata.get("latent_distribution", "normal")]


def seed_latent(seed: int, latent_dim: int) -> torch.Tensor:
    """A seed's normal latent: its own CPU generator's first `latent_dim` normals."""
    return NORMAL.seed_latents([seed], latent_dim)[0]


def seed_latents(seeds: list[int], latent_dim: int) -> torch.Tensor:
    """(len(seeds), latent_dim) normal latents, each row from its own seeded generator."""
    return NORMAL.seed_latents(seeds, latent_dim)


def truncate(latents: torch.Tensor, truncation: float) -> torch.Tensor:
    """Pull latents toward the mean of the prior (0 for both priors) by `truncation` (1.0 leaves them as they
    are); scaling toward the centre keeps a uniform latent inside its cube."""
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
