"""The original GAN's multilayer perceptrons (Goodfellow et al. 2014), optionally class-conditional
(Mirza & Osindero 2014).

The generator maps z through 256-512-1024 hidden units (LeakyReLU 0.2, batch norm) to a tanh image; the
discriminator maps the flattened image through 1024-512-256 units (LeakyReLU 0.2, dropout 0.4) to one logit.
Conditional models combine a learned class embedding with z, by elementwise multiplication (the Keras CGAN
example) or by concatenation (the paper), and the discriminator sees the class the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.dcgan import class_vectors

HIDDEN = (256, 512, 1024)
CONDITIONS = ("multiply", "concatenate")


@dataclass(frozen=True)
class MLPConfig:
    height: int = 28
    width: int = 28
    channels: int = 1
    latent_dim: int = 100
    hidden: tuple[int, ...] = HIDDEN
    num_classes: int = 0  # 0: unconditional
    condition: str = "multiply"  # how a class meets z (and the image in D): "multiply" or "concatenate"
    dropout: float = 0.4

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}")
        object.__setattr__(self, "hidden", tuple(self.hidden))  # JSON gives lists back

    @property
    def pixels(self) -> int:
        return self.channels * self.height * self.width


class ClassCondition(nn.Module):
    """Combines a (N, features) input with a class: multiplied by a learned embedding of size `features`,
    or concatenated with a learned embedding of size `num_classes`.

    The embedding is a bias-free linear map of one-hot vectors, so blended class vectors (walks between
    classes) blend the embeddings.
    """

    def __init__(self, num_classes: int, features: int, mode: str):
        super().__init__()
        self.num_classes, self.mode = num_classes, mode
        self.embed = nn.Linear(num_classes, features if mode == "multiply" else num_classes, bias=False)
        nn.init.normal_(self.embed.weight, 0.0, 1.0)  # as nn.Embedding: a unit-scale code per class

    @property
    def extra_features(self) -> int:
        return 0 if self.mode == "multiply" else self.num_classes

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        e = self.embed(class_vectors(labels, self.num_classes, x.dtype))
        return x * e if self.mode == "multiply" else torch.cat([x, e], dim=1)


class Generator(nn.Module):
    def __init__(self, cfg: MLPConfig):
        super().__init__()
        self.cfg = cfg
        self.condition = ClassCondition(cfg.num_classes, cfg.latent_dim, cfg.condition) if cfg.num_classes else None
        width = cfg.latent_dim + (self.condition.extra_features if self.condition else 0)
        layers: list[nn.Module] = []
        for units in cfg.hidden:
            # the Keras GAN example's order; its BN momentum 0.8 is PyTorch's 0.2
            layers += [nn.Linear(width, units), nn.LeakyReLU(0.2), nn.BatchNorm1d(units, momentum=0.2)]
            width = units
        layers += [nn.Linear(width, cfg.pixels), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.condition is not None:
            if labels is None:
                raise ValueError("a conditional generator needs labels")
            z = self.condition(z, labels)
        # (N, latent) -> (N, C*H*W) -> (N, C, H, W)
        return self.body(z).view(-1, self.cfg.channels, self.cfg.height, self.cfg.width)


class Discriminator(nn.Module):
    """One logit (or critic value) per image."""

    def __init__(self, cfg: MLPConfig):
        super().__init__()
        self.cfg = cfg
        self.condition = ClassCondition(cfg.num_classes, cfg.pixels, cfg.condition) if cfg.num_classes else None
        width = cfg.pixels + (self.condition.extra_features if self.condition else 0)
        layers: list[nn.Module] = []
        for units in reversed(cfg.hidden):
            layers += [nn.Linear(width, units), nn.LeakyReLU(0.2), nn.Dropout(cfg.dropout)]
            width = units
        layers += [nn.Linear(width, 1)]
        self.body = nn.Sequential(*layers)

    def _inputs(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        x = images.flatten(1)  # (N, C, H, W) -> (N, C*H*W)
        if self.condition is not None:
            if labels is None:
                raise ValueError("a conditional discriminator needs labels")
            x = self.condition(x, labels)
        return x

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(self._inputs(images, labels)).view(-1)

    def features(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(N, last hidden units): what the output layer judges."""
        return self.body[:-1](self._inputs(images, labels))
