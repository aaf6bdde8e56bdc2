"""GAN objectives, each a pair of functions of the discriminator's raw outputs (logits or critic values)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Objective:
    name: str
    d_loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (real, fake, real_targets)
    g_loss: Callable[[torch.Tensor], torch.Tensor]  # (fake)
    probability_output: bool  # D's sigmoid is a probability, so D/G scores are meaningful


def _bce_d(real: torch.Tensor, fake: torch.Tensor, real_targets: torch.Tensor) -> torch.Tensor:
    return (F.binary_cross_entropy_with_logits(real, real_targets)
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def _non_saturating_g(fake: torch.Tensor) -> torch.Tensor:
    # fake labels are real for generator cost
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


def _minimax_g(fake: torch.Tensor) -> torch.Tensor:
    # the paper's original min log(1 - D(G(z))); saturates early in training, kept for comparison
    return -F.softplus(fake).mean()


def _wasserstein_d(real: torch.Tensor, fake: torch.Tensor, real_targets: torch.Tensor) -> torch.Tensor:
    # the critic maximises E[C(x)] - E[C(G(z))]; Lipschitz comes from clipping or a penalty (models.penalties)
    return fake.mean() - real.mean()


def _wasserstein_g(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def _hinge_d(real: torch.Tensor, fake: torch.Tensor, real_targets: torch.Tensor) -> torch.Tensor:
    # Lim & Ye 2017, as in SN-GAN and BigGAN: only samples inside the margin move the discriminator
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in [
        Objective("non-saturating", _bce_d, _non_saturating_g, True),
        Objective("minimax", _bce_d, _minimax_g, True),
        Objective("wasserstein", _wasserstein_d, _wasserstein_g, False),
        Objective("hinge", _hinge_d, _wasserstein_g, False),  # G's hinge loss is the critic's negated mean
    ]
}


def get_objective(name: str) -> Objective:
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ValueError(f"unknown objective {name!r}; valid: {', '.join(sorted(OBJECTIVES))}") from None
