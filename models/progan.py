"""Progressive growing of GANs (Karras et al. 2018), sized for small machines.

Both networks hold every resolution from 4x4 to the final one from the start; buffers `level` and `alpha`
say how far they have grown. While a new level fades in (alpha from 0 to 1), the generator blends the
upsampled image of the previous level with the new level's image, and the discriminator blends the
downsampled input through the previous level's fromRGB with the new block's output. The generator always
answers images at the final size (a model still growing is upsampled with nearest neighbours), so a
checkpoint serves like any other; the discriminator downsamples whatever it is given to its level's size. Images whose side is a little below a power of two
(Fashion-MNIST's 28) grow on a canvas of that power (32): the generator crops it, the discriminator pads.

Equalized learning rate: weights are drawn from N(0, 1) and scaled at run time by He's constant.
Pixelwise feature normalization follows every convolution of the generator; the discriminator's last
block sees the minibatch standard deviation as an extra feature map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

BASE = 4  # side of the first level


@dataclass(frozen=True)
class ProGANConfig:
    height: int = 32
    width: int = 32
    channels: int = 1
    latent_dim: int = 100
    base_width: int = 64  # feature maps of the 4x4 to 16x16 levels; halved per level above (the paper: 512)
    num_classes: int = 0  # progressive models here are unconditional
    mbstd_group: int = 4
    # background pixels around the image on the networks' canvas, whose side is a power of two (28 -> 32);
    # 0 in older checkpoints
    padding: int = 0

    def __post_init__(self) -> None:
        check_size(self.height, self.width)
        if self.num_classes:
            raise ValueError("progan is unconditional here; use cdcgan or cgan for class-conditional models")

    @property
    def canvas(self) -> int:
        return self.height + 2 * self.padding

    @property
    def levels(self) -> int:
        return int(math.log2(self.canvas // BASE)) + 1

    def maps(self, level: int) -> int:
        return max(8, min(self.base_width, (self.base_width * 4) >> level))


def canvas_padding(height: int, width: int) -> int:
    """Background pixels on each side that bring the image to the next power-of-two side (28 -> 32): the
    networks grow on that canvas; the generator crops it and the discriminator pads its input back."""
    check_size(height, width)
    return ((1 << (height - 1).bit_length()) - height) // 2


def check_size(height: int, width: int) -> None:
    canvas = 1 << (height - 1).bit_length()
    if height != width or height < 8 or height % 2 or canvas - height > height // 4:
        raise ValueError(f"progan grows square images whose side is a power of two of at least 8, or an even "
                         f"side a little below one (28 on a 32 canvas), not {height}x{width}")


def growth(step: int, levels: int, phase_steps: int) -> tuple[int, float]:
    """(level, alpha) at `step`: the 4x4 level trains for one phase, then each new level fades in for a
    phase (alpha 0 -> 1) and trains at full strength for another; after the last, the final level stays."""
    phase = step // phase_steps
    level = (phase + 1) // 2
    if level >= levels:
        return levels - 1, 1.0
    if phase % 2 == 1:
        return level, (step - phase * phase_steps) / phase_steps
    return level, 1.0


def pad(images: torch.Tensor, padding: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H + 2p, W + 2p), the border at the background's -1."""
    return F.pad(images, (padding,) * 4, value=-1.0) if padding else images


def crop(images: torch.Tensor, padding: int) -> torch.Tensor:
    return images[:, :, padding:-padding, padding:-padding] if padding else images


def fade_reals(config: dict, images: torch.Tensor, level: int, alpha: float) -> torch.Tensor:
    """Real images as D sees them at (level, alpha): on the canvas, downscaled to the level's side and, while
    it fades in, blended with the previous level's side as the generator's output is (the paper, section 3),
    then brought back to the canvas with nearest neighbours, which D's pooling undoes, and cropped as the
    generator's output is."""
    padding = config.get("padding", 0)
    x = pad(images, padding)
    side, canvas = BASE << level, x.shape[-1]
    x = F.avg_pool2d(x, canvas // side) if canvas != side else x  # (N, C, side, side)
    if level > 0 and alpha < 1.0:
        x = torch.lerp(F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest"), x, alpha)
    x = F.interpolate(x, size=(canvas, canvas), mode="nearest") if canvas != side else x
    return crop(x, padding)


# equalized learning rate layers

class EqualizedConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, padding: int = 0, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale, self.padding = gain / math.sqrt(cin * kernel * kernel), padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    def __init__(self, fin: int, fout: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fout, fin))
        self.bias = nn.Parameter(torch.zeros(fout))
        self.scale = gain / math.sqrt(fin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class PixelNorm(nn.Module):
    """Each pixel's feature vector scaled to unit mean square."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """(N, C, H, W) -> (N, C+1, H, W): the mean over features of the standard deviation across each group
    of `group` samples, as one constant map; a collapsed generator's batches show a low value."""
    n, c, h, w = x.shape
    g = max(d for d in range(1, min(group, n) + 1) if n % d == 0)
    y = x.float().view(g, -1, c, h, w)  # sample i is in group i % (n/g), as in the reference code
    y = (y - y.mean(0)).pow(2).mean(0).add(1e-8).sqrt()  # (n/g, C, H, W)
    y = y.mean(dim=[1, 2, 3]).to(x.dtype)  # (n/g,)
    y = y.view(-1, 1, 1, 1).repeat(g, 1, h, w)  # (N, 1, H, W)
    return torch.cat([x, y], dim=1)


class _Growing(nn.Module):
    def _init_growth(self, levels: int) -> None:
        self.levels = levels
        # saved with the weights: a checkpoint knows how far its networks had grown
        self.register_buffer("level", torch.tensor(levels - 1, dtype=torch.int64))
        self.register_buffer("alpha", torch.tensor(1.0))

    def set_growth(self, level: int, alpha: float) -> None:
        if not 0 <= level < self.levels or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"level must be in 0..{self.levels - 1} and alpha in [0, 1]")
        self.level.fill_(level)
        self.alpha.fill_(alpha)

    def growth_state(self) -> tuple[int, float]:
        return int(self.level), float(self.alpha)


class Generator(_Growing):
    def __init__(self, cfg: ProGANConfig):
        super().__init__()
        self.cfg = cfg
        self._init_growth(cfg.levels)
        c0 = cfg.maps(0)
        self.c0 = c0
        self.normalize_z = PixelNorm()
        self.project = EqualizedLinear(cfg.latent_dim, c0 * BASE * BASE, gain=math.sqrt(2) / 4)
        self.stem = nn.Sequential(nn.LeakyReLU(0.2), PixelNorm(),
                                  EqualizedConv2d(c0, c0, 3, 1), nn.LeakyReLU(0.2), PixelNorm())
        self.blocks = nn.ModuleList([
            nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                          EqualizedConv2d(cfg.maps(i - 1), cfg.maps(i), 3, 1), nn.LeakyReLU(0.2), PixelNorm(),
                          EqualizedConv2d(cfg.maps(i), cfg.maps(i), 3, 1), nn.LeakyReLU(0.2), PixelNorm())
            for i in range(1, cfg.levels)])
        self.to_rgb = nn.ModuleList([EqualizedConv2d(cfg.maps(i), cfg.channels, 1, gain=1.0)
                                     for i in range(cfg.levels)])

    def features(self, z: torch.Tensor, level: int) -> torch.Tensor:
        """Feature maps at `level` at full strength: (N, maps(level), 4*2^level, 4*2^level)."""
        # (N, latent) -> (N, maps(0), 4, 4)
        x = self.project(self.normalize_z(z[:, :, None, None]).flatten(1)).view(-1, self.c0, BASE, BASE)
        x = self.stem(x)
        for block in self.blocks[:level]:
            x = block(x)
        return x

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is not None:
            raise ValueError("progan is unconditional: leave out labels")
        level, alpha = self.growth_state()
        if level > 0 and alpha < 1.0:
            previous = self.features(z, level - 1)
            new = self.to_rgb[level](self.blocks[level - 1](previous))
            old = F.interpolate(self.to_rgb[level - 1](previous), scale_factor=2, mode="nearest")
            rgb = torch.lerp(old, new, alpha)
        else:
            rgb = self.to_rgb[level](self.features(z, level))
        # (N, C, 4*2^level, ...) -> (N, C, canvas, canvas): nearest upsampling is undone exactly by D's pooling
        if rgb.shape[-1] != self.cfg.canvas:
            rgb = F.interpolate(rgb, size=(self.cfg.canvas, self.cfg.canvas), mode="nearest")
        return crop(rgb, self.cfg.padding)  # (N, C, height, width)


class Discriminator(_Growing):
    """One critic value per image."""
    # the minibatch standard deviation makes each output depend on the other images of its batch
    mixes_samples = True

    def __init__(self, cfg: ProGANConfig):
        super().__init__()
        self.cfg = cfg
        self._init_growth(cfg.levels)
        self.from_rgb = nn.ModuleList([nn.Sequential(EqualizedConv2d(cfg.channels, cfg.maps(i), 1), nn.LeakyReLU(0.2))
                                       for i in range(cfg.levels)])
        # blocks[i - 1] takes level i down to level i - 1
        self.blocks = nn.ModuleList([
            nn.Sequential(EqualizedConv2d(cfg.maps(i), cfg.maps(i), 3, 1), nn.LeakyReLU(0.2),
                          EqualizedConv2d(cfg.maps(i), cfg.maps(i - 1), 3, 1), nn.LeakyReLU(0.2), nn.AvgPool2d(2))
            for i in range(1, cfg.levels)])
        c0 = cfg.maps(0)
        self.final = nn.Sequential(EqualizedConv2d(c0 + 1, c0, 3, 1), nn.LeakyReLU(0.2),
                                   EqualizedConv2d(c0, c0, BASE), nn.LeakyReLU(0.2))
        self.out = EqualizedLinear(c0, 1, gain=1.0)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        # (N, maps(0), 4, 4) -> (N, maps(0)+1, 4, 4) -> (N, maps(0), 1, 1)
        x = self.final(minibatch_stddev(self._trunk(images), self.cfg.mbstd_group))
        return self.out(x.flatten(1)).view(-1)

    def features(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(N, maps(0)): what the output layer judges. Each image is its own minibatch-stddev group, so an
        image's features never depend on the others sent with it."""
        return self.final(minibatch_stddev(self._trunk(images), 1)).flatten(1)

    def _trunk(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, maps(0), 4, 4) at the current growth."""
        level, alpha = self.growth_state()
        side = BASE << level
        images = pad(images, self.cfg.padding)  # (N, C, canvas, canvas)
        if images.shape[-1] != side:
            images = F.avg_pool2d(images, images.shape[-1] // side)  # (N, C, side, side)
        x = self.from_rgb[level](images)
        if level > 0:
            x = self.blocks[level - 1](x)
            if alpha < 1.0:
                x = torch.lerp(self.from_rgb[level - 1](F.avg_pool2d(images, 2)), x, alpha)
            for block in reversed(self.blocks[: level - 1]):
                x = block(x)
        return x
