"""Optimizers by name, built from a resolved choice (models.spec fills in the architecture's defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch

OPTIMIZERS = ("adam", "rmsprop", "sgd")


@dataclass(frozen=True)
class OptimizerChoice:
    name: str
    lr: float
    betas: tuple[float, float] = (0.5, 0.999)  # adam
    momentum: float = 0.0  # rmsprop, sgd


def build_optimizer(params: Iterable[torch.nn.Parameter], choice: OptimizerChoice) -> torch.optim.Optimizer:
    if choice.name == "adam":
        return torch.optim.Adam(params, lr=choice.lr, betas=choice.betas)
    if choice.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=choice.lr, momentum=choice.momentum)
    if choice.name == "sgd":
        return torch.optim.SGD(params, lr=choice.lr, momentum=choice.momentum)
    raise ValueError(f"unknown optimizer {choice.name!r}; valid: {', '.join(OPTIMIZERS)}")


def apply_hyperparameters(optimizer: torch.optim.Optimizer, choice: OptimizerChoice) -> None:
    """After loading a resumed optimizer's state: the new job's hyper-parameters win over the saved ones."""
    for group in optimizer.param_groups:
        group["lr"] = choice.lr
        if "betas" in group:
            group["betas"] = choice.betas
        if "momentum" in group:
            group["momentum"] = choice.momentum
