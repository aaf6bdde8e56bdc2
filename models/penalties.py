"""Regularisers of the discriminator (critic): WGAN weight clipping, WGAN-GP gradient penalty, drift; and of the
generator: the mode-seeking term."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     epsilon: torch.Tensor) -> torch.Tensor:
    """mean over the batch of (||grad_x critic(x)||_2 - 1)^2 at x = eps * real + (1 - eps) * fake
    (Gulrajani et al. 2017, algorithm 1); `epsilon` is (N,) uniform in [0, 1]. Multiply by lambda outside."""
    eps = epsilon.to(real.dtype).view(-1, *([1] * (real.ndim - 1)))  # (N,) -> (N, 1, 1, 1)
    interpolates = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = critic(interpolates)
    # create_graph: the penalty is itself differentiated when the critic steps
    (grad,) = torch.autograd.grad(out.sum(), interpolates, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def drift_penalty(real_out: torch.Tensor) -> torch.Tensor:
    """ProGAN's epsilon-drift term: keeps the critic's values on reals from wandering off zero."""
    return real_out.pow(2).mean()


@torch.no_grad()
def clip_weights(module: nn.Module, limit: float) -> None:
    """WGAN's Lipschitz constraint: every parameter of the critic clamped to [-limit, limit]."""
    for p in module.parameters():
        p.clamp_(-limit, limit)


def mode_seeking(fake: torch.Tensor, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """MSGAN's term for a generator whose samples are too alike (Mao et al. 2019): the inverse of the mean ratio
    of two samples' distance to their latents' distance (mean absolute differences), over disjoint pairs of the
    batch that share a class. Multiply by lambda outside and add to G's loss."""
    n = fake.shape[0]
    order = torch.arange(n, device=fake.device) if labels is None else torch.argsort(labels, stable=True)
    first, second = order[0 : n - 1 : 2], order[1::2]
    if labels is not None:
        same = labels[first] == labels[second]
        first, second = first[same], second[same]
    if first.numel() == 0:  # no two samples of one class: nothing to compare
        return fake.new_zeros((), dtype=torch.float32)
    image_gap = (fake[first] - fake[second]).float().abs().flatten(1).mean(1)
    latent_gap = (z[first] - z[second]).float().abs().flatten(1).mean(1)
    return 1.0 / ((image_gap / latent_gap).mean() + 1e-5)
