"""DCGAN generator and discriminator (Radford et al. 2015), square or not, optionally class-conditional.

The generator projects z (plus a one-hot label for conditional models) to a small feature map, then doubles
its size with fractionally-strided convolutions (or nearest upsampling + 3x3 convolution) until it reaches
the image size. The discriminator mirrors it with strided convolutions; conditional discriminators see the
label as one-hot maps concatenated to the image channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm


@dataclass(frozen=True)
class DCGANConfig:
    height: int = 64
    width: int = 64
    channels: int = 3
    latent_dim: int = 100
    base_width: int = 64  # ngf/ndf of the reference; the paper's 64x64 model is 128 (1024 maps at 4x4)
    num_classes: int = 0  # 0: unconditional
    upsample: str = "transposed"  # or "nearest": upsample + 3x3 convolution (the Keras examples' variant)
    d_norm: str = "batch"  # "batch" as in the paper; "layer" or "none" for WGAN-GP critics; "spectral" (SN-GAN)
    kernel_size: int = 4  # 4 (pytorch/examples) or 5 (the paper)
    # background pixels around the image on the networks' canvas (see canvas_padding); 0 in older checkpoints
    padding: int = 0


def stem_size(height: int, width: int) -> tuple[int, int, int]:
    """(h0, w0, doublings): halve both sides while they stay even and the short side stays above 4.

    28x28 -> 7x7 and 2 doublings; 32 -> 4x4 and 3; 64 -> 4x4 and 4; 128x160 -> 4x5 and 5.
    """
    h, w, n = height, width, 0
    while h % 2 == 0 and w % 2 == 0 and min(h, w) > 4:
        h, w, n = h // 2, w // 2, n + 1
    if n == 0 or min(h, w) < 3 or max(h, w) > 16:
        raise ValueError(
            f"image size {height}x{width} cannot be built by doubling a small map; "
            "use sides such as 28, 32, 64, 128 or 128x160"
        )
    return h, w, n


def canvas_padding(height: int, width: int) -> int:
    """Pixels of background to add on each side so that the networks grow from a 4-pixel stem.

    A 28x28 image doubles from a 7x7 stem in two steps, a shallow pair of networks; on a 32x32 canvas (2
    pixels each side, as pytorch/examples pads MNIST) they grow from 4x4 in three steps, and learned the same
    data 2-3 times faster per step than on 28x28 or on images resized to 32x32 (docs/quality.md). The
    generator crops the canvas back to the image; the discriminator pads its input with the background.
    """
    for padding in range(0, min(height, width) // 4 + 1):
        try:
            h0, w0, _ = stem_size(height + 2 * padding, width + 2 * padding)
        except ValueError:
            continue
        if min(h0, w0) == 4:
            return padding
    return 0


def class_vectors(labels: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """(N,) class indices -> (N, num_classes) one-hot; (N, num_classes) floats pass through, so a walk
    between two classes can blend their vectors."""
    if labels.is_floating_point():
        assert labels.shape[-1] == num_classes, f"expected (N, {num_classes}) class vectors"
        return labels.to(dtype)
    return F.one_hot(labels, num_classes).to(dtype)


def _up_block(cin: int, cout: int, cfg: DCGANConfig) -> list[nn.Module]:
    k = cfg.kernel_size
    if cfg.upsample == "nearest":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=False)]
    # padding and output padding chosen so that kernel 4 and kernel 5 both exactly double the map
    pad = (k - 1) // 2
    return [nn.ConvTranspose2d(cin, cout, k, 2, pad, output_padding=2 + 2 * pad - k, bias=False)]


class Generator(nn.Module):
    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        if cfg.upsample not in ("transposed", "nearest"):
            raise ValueError("upsample must be 'transposed' or 'nearest'")
        self.cfg = cfg
        h0, w0, n = stem_size(cfg.height + 2 * cfg.padding, cfg.width + 2 * cfg.padding)
        self.h0, self.w0 = h0, w0
        c0 = cfg.base_width * 2 ** (n - 1)
        self.c0 = c0
        # project and reshape: z (+ one-hot y) -> c0 x h0 x w0
        self.project = nn.Linear(cfg.latent_dim + cfg.num_classes, c0 * h0 * w0, bias=False)
        self.project_norm = nn.BatchNorm2d(c0)
        layers: list[nn.Module] = []
        c = c0
        for i in range(n - 1):
            layers += _up_block(c, c // 2, cfg) + [nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
            # state size. c x (h0 * 2^(i+1)) x (w0 * 2^(i+1))
        layers += _up_block(c, cfg.channels, cfg) + [nn.Tanh()]
        # state size. channels x (height + 2 padding) x (width + 2 padding), in [-1, 1]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.cfg.num_classes:
            if labels is None:
                raise ValueError("a conditional generator needs labels")
            z = torch.cat([z, class_vectors(labels, self.cfg.num_classes, z.dtype)], dim=1)
        x = self.project(z).view(-1, self.c0, self.h0, self.w0)
        x = F.relu(self.project_norm(x))
        p = self.cfg.padding
        canvas = self.body(x)
        return canvas[:, :, p:-p, p:-p] if p else canvas  # (N, channels, height, width)


def _norm(kind: str, channels: int, h: int, w: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.LayerNorm([channels, h, w])
    if kind in ("none", "spectral"):  # spectral normalisation acts on the weights, not the activations
        return nn.Identity()
    raise ValueError("d_norm must be 'batch', 'layer', 'spectral' or 'none'")


class Discriminator(nn.Module):
    """Answers one logit (or critic value) per image: no sigmoid, the loss decides."""

    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        self.cfg = cfg
        h0, w0, n = stem_size(cfg.height + 2 * cfg.padding, cfg.width + 2 * cfg.padding)
        k = cfg.kernel_size
        pad = (k - 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(cfg.channels + cfg.num_classes, cfg.base_width, k, 2, pad, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        c, h, w = cfg.base_width, (cfg.height + 2 * cfg.padding) // 2, (cfg.width + 2 * cfg.padding) // 2
        for _ in range(n - 1):
            h, w = h // 2, w // 2
            layers += [nn.Conv2d(c, c * 2, k, 2, pad, bias=False), _norm(cfg.d_norm, c * 2, h, w),
                       nn.LeakyReLU(0.2, inplace=True)]
            c *= 2
        # state size. c x h0 x w0
        layers += [nn.Conv2d(c, 1, (h0, w0), 1, 0, bias=False)]
        if cfg.d_norm == "spectral":
            # Miyato et al. 2018: every weight divided by its largest singular value (one power iteration
            # per training forward), which bounds D's Lipschitz constant without batch statistics
            layers = [spectral_norm(m) if isinstance(m, nn.Conv2d) else m for m in layers]
        self.body = nn.Sequential(*layers)

    def _inputs(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.cfg.padding:  # the background the generator's crop removed: -1 in both real and fake images
            images = F.pad(images, (self.cfg.padding,) * 4, value=-1.0)
        if self.cfg.num_classes:
            if labels is None:
                raise ValueError("a conditional discriminator needs labels")
            maps = class_vectors(labels, self.cfg.num_classes, images.dtype)[:, :, None, None]
            images = torch.cat([images, maps.expand(-1, -1, images.shape[2], images.shape[3])], dim=1)
        return images

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(self._inputs(images, labels)).view(-1)

    def features(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(N, c * h0 * w0): the maps the last convolution judges, flattened; what the paper gives a linear
        classifier (it also pools the earlier layers' maps; the last ones alone are the penultimate layer)."""
        return self.body[:-1](self._inputs(images, labels)).flatten(1)


def init_weights(module: nn.Module) -> None:
    """The paper's initialisation: N(0, 0.02) for convolutions, N(1, 0.02) for batch-norm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        if parametrize.is_parametrized(module, "weight"):  # spectral norm: initialise the raw weight
            nn.init.normal_(module.parametrizations.weight.original, 0.0, 0.02)
        else:
            nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
