"""The table of trainable architectures: each name builds its generator and discriminator from a config dict.

A checkpoint records the architecture name and the generator's config, so serving rebuilds the network from
this table and never from code stored in a file. Unknown names are rejected with the list of valid ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

from torch import nn

from models import dcgan


@dataclass(frozen=True)
class Architecture:
    name: str
    conditional: bool
    objective: str  # the default loss, see models.losses
    make_config: Callable[..., dict]  # (spec, num_classes) -> generator/discriminator config
    build_generator: Callable[[dict], nn.Module]
    build_discriminator: Callable[[dict], nn.Module]


def _dcgan_config(spec, num_classes: int) -> dict:
    return asdict(dcgan.DCGANConfig(
        height=spec.height, width=spec.width, channels=spec.channels, latent_dim=spec.latent_dim,
        base_width=spec.base_width, num_classes=num_classes, upsample=spec.upsample,
        kernel_size=spec.kernel_size,
    ))


def _dcgan_generator(config: dict) -> nn.Module:
    return dcgan.Generator(dcgan.DCGANConfig(**config))


def _dcgan_discriminator(config: dict) -> nn.Module:
    return dcgan.Discriminator(dcgan.DCGANConfig(**config))


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in [
        Architecture("dcgan", False, "non-saturating", _dcgan_config, _dcgan_generator, _dcgan_discriminator),
        Architecture("cdcgan", True, "non-saturating", _dcgan_config, _dcgan_generator, _dcgan_discriminator),
    ]
}


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; valid: {', '.join(sorted(ARCHITECTURES))}") from None
