"""The paper-style reference: pytorch/examples' DCGAN, as written there, at 32x32 for Fashion-MNIST.

Faithful to `dcgan/main.py` of pytorch/examples: nz 100, ngf = ndf = 64, the same layers less the 64x64 one,
N(0, 0.02) initialisation, BCE on D's sigmoid, Adam 2e-4 with beta1 0.5 for both networks, batch 64, fp32,
eager. The 28x28 images are padded to 32x32 (background -1), as such ports do; the extractor is then shown
the centre 28x28 of each sample, which undoes the padding exactly. Nothing here imports the project's
networks or trainer: this is the loop a user would write by hand.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

NZ, NGF, NDF, NC = 100, 64, 64, 1


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(NZ, NGF * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(NGF * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 4, NGF * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(NGF * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 2, NGF, 4, 2, 1, bias=False),
            nn.BatchNorm2d(NGF),
            nn.ReLU(True),
            nn.ConvTranspose2d(NGF, NC, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.main(z[:, :, None, None])


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(NC, NDF, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(NDF * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 2, NDF * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(NDF * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 4, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1, 1).squeeze(1)


def weights_init(m: nn.Module) -> None:
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        m.weight.data.normal_(0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


class CentreCrop(nn.Module):
    """The reference generator as the extractor should see it: the 28x28 centre of each 32x32 sample."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.generator(z)[:, :, 2:30, 2:30]


def padded(images: torch.Tensor) -> torch.Tensor:
    """(N, 1, 28, 28) uint8 -> (N, 1, 32, 32) in [-1, 1], the border at the background's -1."""
    return F.pad(images.float().div(127.5).sub(1.0), (2, 2, 2, 2), value=-1.0)


def train(images: torch.Tensor, seconds: float, snapshot: Callable[[float, int, nn.Module], None],
          snapshot_every_s: float, start: float, seed: int = 0, batch_size: int = 64) -> int:
    """Train until `seconds` after `start` (time.monotonic()); `snapshot(elapsed, step, netG)` every period."""
    torch.manual_seed(seed)
    data = padded(images)
    netG, netD = Generator(), Discriminator()
    netG.apply(weights_init)
    netD.apply(weights_init)
    criterion = nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real_label, fake_label = 1.0, 0.0
    step, next_snapshot = 0, snapshot_every_s
    while True:
        for batch in data[torch.randperm(len(data))].split(batch_size):  # one epoch, shuffled, as DataLoader
            # D: BCE on a real batch, then on a fake one, one optimizer step for both
            netD.zero_grad()
            real = batch
            label = torch.full((real.size(0),), real_label)
            output = netD(real)
            errD_real = criterion(output, label)
            errD_real.backward()
            noise = torch.randn(real.size(0), NZ)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach())
            errD_fake = criterion(output, label)
            errD_fake.backward()
            optimizerD.step()
            # G: the non-saturating loss through D on the same fakes
            netG.zero_grad()
            label.fill_(real_label)
            output = netD(fake)
            errG = criterion(output, label)
            errG.backward()
            optimizerG.step()
            step += 1
            elapsed = time.monotonic() - start
            if elapsed >= next_snapshot or elapsed >= seconds:
                snapshot(elapsed, step, netG)
                next_snapshot += snapshot_every_s
            if elapsed >= seconds:
                return step
