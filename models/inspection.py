"""A look inside trained networks: the generator's stages by name, their activations for one latent, and the
filters nearest the image in both networks, each as a tiled picture.

Pictures are tiles of `images.grid`, every tile normalised to 0..255 on its own (a dead channel is black) and
enlarged with nearest neighbours by the largest whole factor that keeps it within TILE_SIDE pixels, so a 4x4 map
is as visible as a 32x32 one. At most MAX_TILES tiles are drawn: the first ones, in channel order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from models import dcgan, mlp, progan
from models.images import grid

MAX_TILES = 64
TILE_SIDE = 48
PANEL_GAP = 8  # grey columns between the generator's filters and the discriminator's: the gutters are black
IMAGE = "image"  # every generator's last stage: its output, one map per image channel


class UnknownLayer(ValueError):
    """A layer name the generator does not have; the message lists the valid ones."""


@dataclass(frozen=True)
class Stage:
    """A named point of the generator's forward: the output of `module`, or its input when `before`."""

    name: str
    module: nn.Module
    before: bool = False


@dataclass(frozen=True)
class Picture:
    """Tiles laid out by `images.grid`: (H, W, C) uint8, the first `shown` of `total`, each enlarged `scale` times."""

    image: np.ndarray
    shown: int
    total: int
    scale: int


def stages(generator: nn.Module) -> list[Stage]:
    """The generator's meaningful stages in forward order: DCGAN's projection (after its batch norm and ReLU)
    and each up-block after its ReLU; the MLP's hidden layers after their batch norm; ProGAN's stem and each
    resolution's block up to its current growth; and the image itself."""
    if isinstance(generator, dcgan.Generator):
        relus = [m for m in generator.body if isinstance(m, nn.ReLU)]
        found = [Stage("project", generator.body, before=True)]
        found += [Stage(f"up{i}", relu) for i, relu in enumerate(relus, 1)]
    elif isinstance(generator, mlp.Generator):
        norms = [m for m in generator.body if isinstance(m, nn.BatchNorm1d)]
        found = [Stage(f"hidden{i}", norm) for i, norm in enumerate(norms, 1)]
    elif isinstance(generator, progan.Generator):
        level, _ = generator.growth_state()
        found = [Stage(_side(progan.BASE), generator.stem)]
        # a model still growing runs the blocks up to its level (the one fading in included), not beyond
        found += [Stage(_side(progan.BASE << i), block) for i, block in enumerate(generator.blocks[:level], 1)]
    else:
        raise TypeError(f"no stages known for {type(generator).__name__}")
    return found + [Stage(IMAGE, generator)]


def _side(side: int) -> str:
    return f"{side}x{side}"


def layer_names(generator: nn.Module) -> list[str]:
    return [stage.name for stage in stages(generator)]


def activations(generator: nn.Module, z: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Every stage's activations for one latent, in forward order: (1, latent_dim) -> {name: (C, H, W)}. A
    hidden layer of units (MLP) is one map of its units, as square as its count allows (1024 -> 32x32)."""
    assert z.shape[0] == 1, f"one latent at a time, got {tuple(z.shape)}"
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for stage in stages(generator):
        def keep(tensor: torch.Tensor, name: str = stage.name) -> None:
            captured[name] = tensor.detach().float().clone()  # DCGAN's in-place ReLUs would change it later

        if stage.before:
            handles.append(stage.module.register_forward_pre_hook(lambda _, args, keep=keep: keep(args[0])))
        else:
            handles.append(stage.module.register_forward_hook(lambda _, args, out, keep=keep: keep(out)))
    try:
        with torch.inference_mode():
            generator(z, labels)
    finally:
        for handle in handles:
            handle.remove()
    return {stage.name: _as_maps(captured[stage.name][0]) for stage in stages(generator)}


def _as_maps(activation: torch.Tensor) -> torch.Tensor:
    """(C, H, W) as it is; (units,) -> (1, rows, units / rows), rows the largest divisor up to the root."""
    if activation.ndim == 3:
        return activation
    units = activation.numel()
    rows = max(d for d in range(1, math.isqrt(units) + 1) if units % d == 0)
    return activation.reshape(1, rows, units // rows)


def layer_maps(generator: nn.Module, z: torch.Tensor, labels: torch.Tensor | None,
               layer: str) -> tuple[Picture, dict[str, tuple[int, ...]]]:
    """One stage's activations as a picture of greyscale maps, one per channel, and every stage's (C, H, W)."""
    names = layer_names(generator)
    if layer not in names:
        raise UnknownLayer(f"unknown layer {layer!r}; this model's layers: {', '.join(names)}")
    found = activations(generator, z, labels)
    maps = found[layer]  # (C, H, W)
    return tiles(maps[:, :, :, None].cpu().numpy()), {name: tuple(a.shape) for name, a in found.items()}


def generator_filters(generator: nn.Module) -> torch.Tensor:
    """The weights that paint pixels, the generator's last layer: what each of its input maps (or, for an MLP,
    each last hidden unit) adds to the image, as (filters, image channels, kh, kw)."""
    if isinstance(generator, dcgan.Generator):
        last = [m for m in generator.body if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d))][-1]
        # a transposed convolution's weight is (in, out, k, k) already; a convolution's is (out, in, k, k)
        return last.weight if isinstance(last, nn.ConvTranspose2d) else last.weight.transpose(0, 1)
    if isinstance(generator, mlp.Generator):
        cfg, last = generator.cfg, generator.body[-2]  # (pixels, hidden): one image per hidden unit
        return last.weight.t().reshape(-1, cfg.channels, cfg.height, cfg.width)
    if isinstance(generator, progan.Generator):
        level, _ = generator.growth_state()
        to_rgb = generator.to_rgb[level]
        return (to_rgb.weight * to_rgb.scale).transpose(0, 1)  # 1x1: the colour each map adds
    raise TypeError(f"no filters known for {type(generator).__name__}")


def discriminator_filters(discriminator: nn.Module) -> torch.Tensor:
    """The discriminator's first layer as (filters, image channels, kh, kw); a conditional model's weights on
    its label maps or embedding are left out: they hold no picture."""
    if isinstance(discriminator, dcgan.Discriminator):
        first = discriminator.body[0]  # spectral norm: `weight` is the normalised one
        return first.weight[:, : discriminator.cfg.channels]
    if isinstance(discriminator, mlp.Discriminator):
        cfg = discriminator.cfg
        return discriminator.body[0].weight[:, : cfg.pixels].reshape(-1, cfg.channels, cfg.height, cfg.width)
    if isinstance(discriminator, progan.Discriminator):
        level, _ = discriminator.growth_state()
        from_rgb = discriminator.from_rgb[level][0]
        return from_rgb.weight * from_rgb.scale  # 1x1: the colour each map responds to
    raise TypeError(f"no filters known for {type(discriminator).__name__}")


def filter_panels(generator: nn.Module, discriminator: nn.Module | None) -> tuple[np.ndarray, list[Picture]]:
    """The generator's filters and, when given, the discriminator's, side by side (generator left) as one
    (H, W, image channels) uint8 picture; each filter normalised over all its channels together, so colour
    filters keep their hue."""
    weights = [generator_filters(generator)] + ([] if discriminator is None else [discriminator_filters(discriminator)])
    # (filters, C, kh, kw) -> (filters, kh, kw, C)
    pictures = [tiles(w.detach().float().cpu().permute(0, 2, 3, 1).numpy()) for w in weights]
    height = max(p.image.shape[0] for p in pictures)
    columns = []
    for i, picture in enumerate(pictures):
        if i:
            columns.append(np.full((height, PANEL_GAP, picture.image.shape[2]), 128, dtype=np.uint8))
        columns.append(np.pad(picture.image, ((0, height - picture.image.shape[0]), (0, 0), (0, 0))))
    return np.concatenate(columns, axis=1), pictures


def tiles(values: np.ndarray) -> Picture:
    """(N, h, w, C) floats -> the first MAX_TILES, each normalised on its own and enlarged, as one grid."""
    total = len(values)
    shown = normalise(values[:MAX_TILES])
    scale = max(1, TILE_SIDE // max(shown.shape[1:3]))
    shown = shown.repeat(scale, axis=1).repeat(scale, axis=2)
    return Picture(grid(shown), len(shown), total, scale)


def normalise(values: np.ndarray) -> np.ndarray:
    """(N, ...) floats -> uint8, each of the N stretched from its own minimum (0) to its maximum (255); a
    constant one is 0."""
    flat = values.reshape(len(values), -1).astype(np.float64)
    low, high = flat.min(axis=1, keepdims=True), flat.max(axis=1, keepdims=True)
    span = np.where(high > low, high - low, 1.0)
    return np.rint((flat - low) / span * 255).astype(np.uint8).reshape(values.shape)
