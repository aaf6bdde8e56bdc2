"""Training speed: the project's trainer against a plain loop in the style of pytorch/examples dcgan/main.py.

    python -m bench.train --config 64x64x3 --config 32x32x1 --rounds 3 --iterations 3

Both train the same networks (models/dcgan.py) at batch 64 on the same in-memory images. The plain loop is
the reference's: fp32, contiguous tensors, a separate D pass on the real and the fake batch, and `.item()` on
every loss and output mean at every step. The trainer is worker/trainer.py's step (channels-last, no host
synchronisation, EMA of G), in fp32 and, on CPUs with native bf16, with bf16 autocast. Variants run interleaved, round after round, so
that a busy machine slows them alike; the medians of the rounds are reported, with the fraction of fp32 peak
(FLOPs of one iteration counted by torch's FlopCounterMode, over a large sgemm measured in the same run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from models.dcgan import DCGANConfig, Discriminator, Generator, init_weights
from models.devices import cpu_has_native_bf16
from models.spec import TrainSpec
from worker.datasets import synthetic
from worker.trainer import Callbacks, Trainer

CONFIGS = {"64x64x3": (64, 3), "32x32x1": (32, 1)}
BATCH = 64


class PlainLoop:
    """pytorch/examples dcgan/main.py, with our networks (logits, hence BCEWithLogitsLoss)."""

    def __init__(self, cfg: DCGANConfig, images: torch.Tensor):
        torch.manual_seed(0)
        self.netG, self.netD = Generator(cfg), Discriminator(cfg)
        self.netG.apply(init_weights)
        self.netD.apply(init_weights)
        self.criterion = nn.BCEWithLogitsLoss()
        self.optD = torch.optim.Adam(self.netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optG = torch.optim.Adam(self.netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.data = images.float().div(127.5).sub(1.0)  # normalised once, as a DataLoader's transform would
        self.latent_dim = cfg.latent_dim
        self.log: list[tuple[float, ...]] = []

    def step(self) -> None:
        real = self.data[torch.randint(len(self.data), (BATCH,))]
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        self.netD.zero_grad()
        label = torch.full((BATCH,), 1.0)
        output = self.netD(real)
        errD_real = self.criterion(output, label)
        errD_real.backward()
        D_x = torch.sigmoid(output).mean().item()
        noise = torch.randn(BATCH, self.latent_dim)
        fake = self.netG(noise)
        label.fill_(0.0)
        output = self.netD(fake.detach())
        errD_fake = self.criterion(output, label)
        errD_fake.backward()
        D_G_z1 = torch.sigmoid(output).mean().item()
        errD = errD_real + errD_fake
        self.optD.step()
        # (2) Update G network: maximize log(D(G(z)))
        self.netG.zero_grad()
        label.fill_(1.0)
        output = self.netD(fake)
        errG = self.criterion(output, label)
        errG.backward()
        D_G_z2 = torch.sigmoid(output).mean().item()
        self.optG.step()
        self.log.append((errD.item(), errG.item(), D_x, D_G_z1, D_G_z2))  # the reference prints these every step


def project_trainer(side: int, channels: int, precision: str, data, channels_last: bool = True) -> Trainer:
    spec = TrainSpec.model_validate({"model": "bench", "dataset": {"kind": "synthetic"}, "architecture": "dcgan",
                                     "image_size": side, "channels": channels, "batch_size": BATCH,
                                     "steps": 10**6, "precision": precision})
    trainer = Trainer(spec, data, Callbacks(publish=lambda c: "none"), torch.device("cpu"),
                      channels_last=channels_last)
    trainer.G.train()
    trainer.D.train()
    return trainer


def flops_per_iteration(step) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


def sgemm_gflops(seconds: float = 1.0) -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    rates = []
    for _ in range(5):
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 5 or calls == 0:
            a @ b
            calls += 1
        rates.append(2 * 2048**3 * calls / elapsed / 1e9)
    return statistics.median(rates)


def bench_config(name: str, rounds: int, iterations: int, peak: float) -> dict:
    side, channels = CONFIGS[name]
    data = synthetic(side, side, channels, count=2048)
    cfg = DCGANConfig(height=side, width=side, channels=channels, base_width=64)
    variants = {"plain fp32 (reference style)": PlainLoop(cfg, data.images).step,
                "trainer fp32 channels-last": project_trainer(side, channels, "fp32", data)._train_step,
                "trainer fp32 contiguous": project_trainer(side, channels, "fp32", data, False)._train_step}
    if cpu_has_native_bf16():  # emulated bf16 ran a convolution 26x slower than fp32 on an AVX2-only CPU
        variants |= {"trainer bf16 channels-last": project_trainer(side, channels, "bf16", data)._train_step,
                     "trainer bf16 contiguous": project_trainer(side, channels, "bf16", data, False)._train_step}
    flops = flops_per_iteration(variants["plain fp32 (reference style)"])
    times: dict[str, list[float]] = {v: [] for v in variants}
    for step in variants.values():
        step()  # warm-up: first-call allocations and kernel choice
    for _ in range(rounds):
        for variant, step in variants.items():
            start = time.perf_counter()
            for _ in range(iterations):
                step()
            times[variant].append((time.perf_counter() - start) / iterations)
    plain = statistics.median(times["plain fp32 (reference style)"])
    out = {"config": name, "batch": BATCH, "gflop_per_iteration": flops / 1e9, "sgemm_peak_gflops": peak,
           "native_bf16": cpu_has_native_bf16(), "variants": {}}
    for variant, samples in times.items():
        s = statistics.median(samples)
        out["variants"][variant] = {"s_per_iteration": s, "speedup_vs_plain": plain / s,
                                    "fraction_of_fp32_peak": flops / s / 1e9 / peak, "rounds": samples}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", choices=list(CONFIGS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=3, help="iterations per variant per round")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    peak = sgemm_gflops()
    for name in args.config or list(CONFIGS):
        result = bench_config(name, args.rounds, args.iterations, peak)
        print(json.dumps(result), flush=True)
        for variant, v in result["variants"].items():
            print(f"{name:8s} {variant:30s} {v['s_per_iteration']:.3f} s/it  x{v['speedup_vs_plain']:.2f}  "
                  f"{100 * v['fraction_of_fp32_peak']:.0f}% of peak", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
