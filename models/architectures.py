"""The table of trainable architectures: each name builds its generator and discriminator from a config dict.

A checkpoint records the architecture name and the generator's config, so serving rebuilds the network from
this table and never from code stored in a file. Unknown names are rejected with the list of valid ones.
Each entry also carries its paper's training defaults (objective, optimizer, critic steps, regularisers),
which a job spec falls back to for whatever the user leaves out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import torch
from torch import nn

from models import dcgan, mlp, progan


@dataclass(frozen=True)
class OptimizerDefaults:
    name: str = "adam"  # adam, rmsprop or sgd (models.optimizers)
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # adam only
    momentum: float = 0.0  # rmsprop and sgd only


@dataclass(frozen=True)
class TrainingDefaults:
    """A family's recipe: its paper's defining traits (objective, optimizer, critic steps, regularisers), with
    what the papers leave open (learning rates, schedule) tuned to reach quality in minutes on a CPU
    (docs/quality.md). The base values are the DCGAN paper's: Adam 2e-4, beta1 0.5, one D step."""

    optimizer: OptimizerDefaults = OptimizerDefaults()
    d_steps: int = 1  # discriminator (critic) steps per generator step
    weight_clip: float = 0.0  # WGAN: clamp every critic parameter to +-weight_clip; 0 = off
    gradient_penalty: float = 0.0  # WGAN-GP lambda; 0 = off
    drift: float = 0.0  # ProGAN epsilon-drift on the critic's real outputs; 0 = off
    mode_seeking: float = 0.0  # MSGAN's weight of models.penalties.mode_seeking in G's loss; 0 = off
    d_norm: str = "batch"  # convolutional discriminators: batch, layer or none
    # both learning rates fall linearly to zero from this fraction of the job's steps; 1.0 keeps them constant
    lr_decay_from: float = 1.0
    # the served EMA's batch-norm statistics: measured on its own samples at each version (True), or copied
    # from the live generator, whose weights they were measured with (False)
    standing_statistics: bool = False


@dataclass(frozen=True)
class Architecture:
    name: str
    conditional: bool
    objective: str  # the default loss, see models.losses
    make_config: Callable[..., dict]  # (spec, num_classes) -> generator/discriminator config
    build_generator: Callable[[dict], nn.Module]
    build_discriminator: Callable[[dict], nn.Module]
    defaults: TrainingDefaults = field(default_factory=TrainingDefaults)
    # weight initialisation applied to both networks after building; None keeps the modules' own
    init: Callable[[nn.Module], None] | None = dcgan.init_weights
    check_size: Callable[[int, int], object] = dcgan.stem_size  # raises ValueError for sizes it cannot build
    # progressive models: (config, step, total steps, phase steps or None) -> (level, alpha) for set_growth
    growth: Callable[[dict, int, int, int | None], tuple[int, float]] | None = None
    # and the real images D sees at (level, alpha): (config, images, level, alpha) -> images
    fade_reals: Callable[[dict, torch.Tensor, int, float], torch.Tensor] | None = None
    options: frozenset[str] = frozenset()  # the architecture-specific TrainSpec fields it reads
    summary: str = ""
    # `precision: auto` trains in bf16 autocast on CPUs with native bf16: only where the quality evaluator
    # found bf16's samples as good as fp32's at the same step (docs/benchmarks.md, "Same quality in bf16";
    # docs/quality.md, "Recipes"); elsewhere fp32
    cpu_bf16: bool = False
    # whether scaling z toward the prior's mean (truncation) changes the image; not where G normalises z first
    truncates: bool = True


# DCGAN family

def _dcgan_config(spec, num_classes: int) -> dict:
    return asdict(dcgan.DCGANConfig(
        height=spec.height, width=spec.width, channels=spec.channels, latent_dim=spec.latent_dim,
        base_width=spec.base_width, num_classes=num_classes, upsample=spec.upsample,
        kernel_size=spec.kernel_size, d_norm=spec.d_norm_name, padding=dcgan.canvas_padding(spec.height, spec.width),
    ))


def _dcgan_generator(config: dict) -> nn.Module:
    return dcgan.Generator(dcgan.DCGANConfig(**config))


def _dcgan_discriminator(config: dict) -> nn.Module:
    return dcgan.Discriminator(dcgan.DCGANConfig(**config))


# the original MLP GAN and its conditional version; cgan concatenates its label embedding by default: over the
# same 38,000 steps it ended at FD 61 against multiplication's 76 (docs/quality.md)

def _mlp_config(spec, num_classes: int) -> dict:
    return asdict(mlp.MLPConfig(height=spec.height, width=spec.width, channels=spec.channels,
                                latent_dim=spec.latent_dim, num_classes=num_classes,
                                condition=spec.condition or "concatenate"))


def _mlp_generator(config: dict) -> nn.Module:
    return mlp.Generator(mlp.MLPConfig(**config))


def _mlp_discriminator(config: dict) -> nn.Module:
    return mlp.Discriminator(mlp.MLPConfig(**config))


def _any_size(height: int, width: int) -> None:
    return None


# progressive growing

def _progan_config(spec, num_classes: int) -> dict:
    return asdict(progan.ProGANConfig(height=spec.height, width=spec.width, channels=spec.channels,
                                      latent_dim=spec.latent_dim, base_width=spec.base_width,
                                      num_classes=num_classes, padding=progan.canvas_padding(spec.height, spec.width)))


def _progan_generator(config: dict) -> nn.Module:
    return progan.Generator(progan.ProGANConfig(**config))


def _progan_discriminator(config: dict) -> nn.Module:
    return progan.Discriminator(progan.ProGANConfig(**config))


def _progan_growth(config: dict, step: int, total_steps: int, phase_steps: int | None) -> tuple[int, float]:
    levels = progan.ProGANConfig(**config).levels
    # by default growing takes the first half of the steps (one phase at 4x4, then a fade-in and a stable
    # phase per level) and the second half trains at full resolution, where the samples are judged
    return progan.growth(step, levels, phase_steps or max(1, total_steps // (4 * (levels - 1))))


DCGAN_OPTIONS = frozenset({"upsample", "kernel_size", "d_norm"})
# five times the paper's rate, annealed over the second half: the same FD in about a third of the steps
# (docs/quality.md, "Recipes")
DCGAN = TrainingDefaults(optimizer=OptimizerDefaults("adam", 1e-3), lr_decay_from=0.5)
# the papers' traits (clipping and RMSprop; the gradient penalty; ProGAN's Adam) with fewer critic steps and
# higher rates than the papers' 5 and 5e-5 / 1e-4, which spend a CPU's minutes on the critic (docs/quality.md);
# clipping's curve is noisy at 5e-4, so WGAN anneals from a quarter of the job
WGAN = TrainingDefaults(optimizer=OptimizerDefaults("rmsprop", 5e-4), d_steps=2, weight_clip=0.01, lr_decay_from=0.25)
WGAN_GP = TrainingDefaults(optimizer=OptimizerDefaults("adam", 5e-4, (0.5, 0.9)), d_steps=1,
                           gradient_penalty=10.0, d_norm="layer", lr_decay_from=0.5)
PROGAN = TrainingDefaults(optimizer=OptimizerDefaults("adam", 1e-3, (0.0, 0.99)), d_steps=1,
                          gradient_penalty=10.0, drift=0.001, d_norm="none", lr_decay_from=0.6)
# the MLPs keep the paper's constant rate: annealed to zero, their FD rose again over the last fifth of a job.
# At a constant rate the EMA's weights stay far from the live generator's, so the live batch-norm statistics
# no longer fit them (docs/quality.md, "Recipes")
MLP = TrainingDefaults(standing_statistics=True)
# the MLPs' samples are sharp and too alike, which MSGAN's mode-seeking term works against; cgan's weight is
# lower, as the term costs it label accuracy (docs/quality.md, "Recipes")
GAN_MLP = replace(MLP, mode_seeking=1.0)
CGAN_MLP = replace(MLP, mode_seeking=0.1)

ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in [
        Architecture("gan", False, "non-saturating", _mlp_config, _mlp_generator, _mlp_discriminator,
                     defaults=GAN_MLP, init=None, check_size=_any_size, summary="MLP GAN (Goodfellow et al. 2014)"),
        Architecture("cgan", True, "non-saturating", _mlp_config, _mlp_generator, _mlp_discriminator,
                     defaults=CGAN_MLP, init=None, check_size=_any_size, options=frozenset({"condition"}),
                     summary="conditional MLP GAN (Mirza & Osindero 2014)"),
        Architecture("dcgan", False, "non-saturating", _dcgan_config, _dcgan_generator, _dcgan_discriminator,
                     defaults=DCGAN, options=DCGAN_OPTIONS, summary="DCGAN (Radford et al. 2015)", cpu_bf16=True),
        Architecture("cdcgan", True, "non-saturating", _dcgan_config, _dcgan_generator, _dcgan_discriminator,
                     defaults=DCGAN, options=DCGAN_OPTIONS, cpu_bf16=True,
                     summary="conditional DCGAN: one-hot labels into G's input and as maps into D"),
        Architecture("wgan", False, "wasserstein", _dcgan_config, _dcgan_generator, _dcgan_discriminator,
                     defaults=WGAN, options=DCGAN_OPTIONS, cpu_bf16=True,
                     summary="WGAN with weight clipping (Arjovsky et al. 2017)"),
        Architecture("wgan-gp", False, "wasserstein", _dcgan_config, _dcgan_generator, _dcgan_discriminator,
                     defaults=WGAN_GP, options=DCGAN_OPTIONS, cpu_bf16=True, summary="WGAN-GP (Gulrajani et al. 2017)"),
        Architecture("progan", False, "wasserstein", _progan_config, _progan_generator, _progan_discriminator,
                     defaults=PROGAN, init=None, check_size=progan.check_size, growth=_progan_growth,
                     fade_reals=progan.fade_reals, options=frozenset({"growth_phase_steps"}), truncates=False,
                     cpu_bf16=True,
                     summary="progressive growing (Karras et al. 2018)"),
    ]
}


def mixes_samples(discriminator: nn.Module) -> bool:
    """Whether an output depends on the other images of the batch (batch norm, minibatch statistics): then
    real and fake images must go through the discriminator in separate passes, as the reference loops do."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) or getattr(m, "mixes_samples", False)
               for m in discriminator.modules())


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; valid: {', '.join(sorted(ARCHITECTURES))}") from None
