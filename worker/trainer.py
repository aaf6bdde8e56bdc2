"""The training loop: one loop for every architecture and objective, driven by the job spec.

It knows nothing about Redis or RQ: progress, sample grids, checkpoints and cancellation go through the
callbacks it is given, so tests run it in-process.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from models import checkpoint, devices, images as imaging
from models.architectures import get_architecture
from models.dcgan import init_weights
from models.latents import seed_latents
from models.losses import get_objective
from models.spec import TrainSpec
from worker.datasets import TrainingData

SAMPLE_COLUMNS = 8


@dataclass
class Checkpoint:
    """What the loop hands to `publish`: everything a version directory holds."""

    step: int
    metadata: dict[str, Any]
    generator_state: dict[str, torch.Tensor]
    training_state: dict[str, torch.Tensor]
    training_info: dict[str, str]
    samples_png: bytes


@dataclass
class Progress:
    step: int
    total: int
    losses: dict[str, float]
    scores: dict[str, float]
    images_per_s: float
    eta_s: float
    warnings: list[str] = field(default_factory=list)


@dataclass
class Callbacks:
    publish: Callable[[Checkpoint], str]
    progress: Callable[[Progress], None] = lambda p: None
    samples: Callable[[int, bytes], None] = lambda step, png: None
    should_stop: Callable[[], bool] = lambda: False


@dataclass
class Result:
    step: int
    versions: list[str]
    stopped: bool


def _snapshot(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # state_dict() aliases live tensors: a checkpoint must not change as training goes on
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            e.lerp_(p, 1.0 - decay)
        for e, b in zip(ema.buffers(), model.buffers()):
            e.copy_(b)  # batch-norm statistics follow the live network


class Trainer:
    def __init__(self, spec: TrainSpec, data: TrainingData, callbacks: Callbacks, device: torch.device,
                 progress_every_s: float = 2.0, resume: tuple[dict[str, torch.Tensor], dict[str, str]] | None = None,
                 channels_last: bool = True):
        self.spec, self.data, self.callbacks, self.device = spec, data, callbacks, device
        # channels-last convolutions are about 15% faster on CPU here (docs/benchmarks.md); same numbers otherwise
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.progress_every_s = progress_every_s
        self.architecture = get_architecture(spec.architecture)
        self.objective = get_objective(spec.objective_name)
        if self.architecture.conditional and data.labels is None:
            raise ValueError(f"architecture {spec.architecture!r} is conditional but the dataset has no labels")
        if len(data) < spec.batch_size:
            raise ValueError(f"the dataset has {len(data)} images, fewer than one batch of {spec.batch_size}; "
                             "lower batch_size or add images")
        self.num_classes = len(data.class_names) if self.architecture.conditional else 0
        self.config = self.architecture.make_config(spec, self.num_classes)

        torch.manual_seed(spec.seed)
        self.G = self.architecture.build_generator(self.config).to(device)
        self.D = self.architecture.build_discriminator(self.config).to(device)
        self.G.apply(init_weights)
        self.D.apply(init_weights)
        self.G.to(memory_format=self.memory_format)
        self.D.to(memory_format=self.memory_format)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if spec.ema_decay > 0 else None
        # fused Adam: one kernel for all parameters instead of a Python loop of small ops per tensor
        fused = device.type in ("cpu", "cuda")
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=spec.lr, betas=spec.betas, fused=fused)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=spec.lr, betas=spec.betas, fused=fused)
        self.amp_dtype = devices.training_dtype(device, spec.precision)
        # fp16 gradients underflow without loss scaling; bf16 and fp32 need none (the scaler is then a no-op)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        self.rng = torch.Generator(device="cpu").manual_seed(spec.seed)  # data order and latents
        self.step = 0
        self.versions: list[str] = []

        self.images = data.images.to(device)
        self.labels = data.labels.to(device) if data.labels is not None else None
        self.fixed_z, self.fixed_labels = self._fixed_inputs()
        if resume is not None:
            self._load_state(*resume)

    def _fixed_inputs(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.num_classes:  # one row per class
            count = self.num_classes * SAMPLE_COLUMNS
            labels = torch.arange(self.num_classes).repeat_interleave(SAMPLE_COLUMNS).to(self.device)
        else:
            count, labels = SAMPLE_COLUMNS * SAMPLE_COLUMNS, None
        # seeds far from the ones users try first, so samples are held out from casual use
        return seed_latents(list(range(10_000, 10_000 + count)), self.spec.latent_dim).to(self.device), labels

    # state for checkpoints and resuming

    def _training_state(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        tensors = {f"g.{k}": v for k, v in self.G.state_dict().items()}
        tensors |= {f"d.{k}": v for k, v in self.D.state_dict().items()}
        if self.G_ema is not None:
            tensors |= {f"ema.{k}": v for k, v in self.G_ema.state_dict().items()}
        opt_g, opt_g_info = checkpoint.flatten_optimizer(self.opt_g.state_dict(), "opt_g")
        opt_d, opt_d_info = checkpoint.flatten_optimizer(self.opt_d.state_dict(), "opt_d")
        tensors |= opt_g | opt_d
        tensors["rng.data"] = self.rng.get_state()
        tensors["rng.torch"] = torch.get_rng_state()
        info = {"step": str(self.step), "opt_g": opt_g_info, "opt_d": opt_d_info}
        return tensors, info

    def _load_state(self, tensors: dict[str, torch.Tensor], info: dict[str, str]) -> None:
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

        self.G.load_state_dict(part("g."), strict=True)
        self.D.load_state_dict(part("d."), strict=True)
        if self.G_ema is not None:
            ema = part("ema.")
            self.G_ema.load_state_dict(ema or self.G.state_dict(), strict=True)
        self.opt_g.load_state_dict(checkpoint.unflatten_optimizer(tensors, info["opt_g"], "opt_g"))
        self.opt_d.load_state_dict(checkpoint.unflatten_optimizer(tensors, info["opt_d"], "opt_d"))
        self.rng.set_state(tensors["rng.data"])
        torch.set_rng_state(tensors["rng.torch"])
        self.step = int(info["step"])

    # the loop

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        index = torch.randint(len(self.data), (self.spec.batch_size,), generator=self.rng).to(self.device)
        real = self.images[index].float().div_(127.5).sub_(1.0).contiguous(memory_format=self.memory_format)
        return real, (self.labels[index] if self.num_classes else None)

    def _train_step(self) -> dict[str, torch.Tensor]:
        real, labels = self._batch()
        z = torch.randn(real.shape[0], self.spec.latent_dim, generator=self.rng).to(self.device)
        autocast = devices.autocast(self.device, self.amp_dtype)

        # (1) update D: maximize log(D(x)) + log(1 - D(G(z)))
        self.opt_d.zero_grad(set_to_none=True)
        with autocast:
            fake = self.G(z, labels)
            real_out = self.D(real, labels).float()
            fake_out = self.D(fake.detach(), labels).float()
            loss_d = self.objective.d_loss(real_out, fake_out, torch.ones_like(real_out))
        self.scaler.scale(loss_d).backward()
        self.scaler.step(self.opt_d)

        # (2) update G
        self.opt_g.zero_grad(set_to_none=True)
        with autocast:
            gen_out = self.D(fake, labels).float()
            loss_g = self.objective.g_loss(gen_out)
        self.scaler.scale(loss_g).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()  # once per iteration, after both optimizers stepped
        if self.G_ema is not None:
            _ema_update(self.G_ema, self.G, self.spec.ema_decay)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "real_out": real_out.detach().mean(),
                "fake_out": fake_out.detach().mean(), "gen_out": gen_out.detach().mean()}

    def _summaries(self, stats: dict[str, torch.Tensor]) -> tuple[dict[str, float], dict[str, float]]:
        losses = {"d": stats["loss_d"].item(), "g": stats["loss_g"].item()}
        if self.objective.probability_output:
            d_real = torch.sigmoid(stats["real_out"]).item()
            d_fake = torch.sigmoid(stats["fake_out"]).item()
            # MATLAB's scores: G wants D(G(z)) high, D wants D(x) high and D(G(z)) low
            scores = {"generator": torch.sigmoid(stats["gen_out"]).item(),
                      "discriminator": (d_real + 1 - d_fake) / 2}
        else:
            scores = {"wasserstein_estimate": (stats["real_out"] - stats["fake_out"]).item()}
        return losses, scores

    def _serving_generator(self) -> nn.Module:
        return self.G_ema if self.G_ema is not None else self.G

    @torch.no_grad()
    def sample_grid(self) -> bytes:
        G = self._serving_generator()
        was_training = G.training
        G.eval()
        out = G(self.fixed_z, self.fixed_labels)
        G.train(was_training)
        return imaging.encode_png(imaging.grid(imaging.to_uint8(out), columns=SAMPLE_COLUMNS))

    def _checkpoint(self) -> Checkpoint:
        tensors, info = self._training_state()
        metadata = {
            "architecture": self.spec.architecture,
            "objective": self.spec.objective_name,
            "generator_config": self.config,
            "latent_dim": self.spec.latent_dim,
            "image": {"height": self.spec.height, "width": self.spec.width, "channels": self.spec.channels},
            "classes": self.data.class_names if self.num_classes else None,
            "step": self.step,
            "dataset": {**self.spec.dataset.model_dump(), "description": self.data.description,
                        "images": len(self.data)},
            "training": self.spec.model_dump(mode="json"),
            "ema": self.G_ema is not None,
            "trained_on": {"device": str(self.device), "precision": str(self.amp_dtype).removeprefix("torch.")},
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        return Checkpoint(self.step, metadata, _snapshot(self._serving_generator().state_dict()),
                          _snapshot(tensors), info, self.sample_grid())

    def _publish(self) -> None:
        version = self.callbacks.publish(self._checkpoint())
        self.versions.append(version)

    def run(self) -> Result:
        self.G.train()
        self.D.train()
        spec = self.spec
        last_report, window_start, window_step = 0.0, time.monotonic(), self.step
        while self.step < spec.steps:
            stats = self._train_step()
            self.step += 1
            now = time.monotonic()
            final = self.step == spec.steps
            if now - last_report >= self.progress_every_s or final:
                # .item() synchronises: only at reporting time, never per step
                losses, scores = self._summaries(stats)
                rate = (self.step - window_step) * spec.batch_size / max(now - window_start, 1e-9)
                eta = (spec.steps - self.step) * spec.batch_size / max(rate, 1e-9)
                self.callbacks.progress(Progress(self.step, spec.steps, losses, scores, rate, eta))
                last_report, window_start, window_step = now, now, self.step
                if not final and self.callbacks.should_stop():
                    self._publish()
                    return Result(self.step, self.versions, stopped=True)
            if self.step % spec.sample_every == 0 and not final:
                self.callbacks.samples(self.step, self.sample_grid())
            if self.step % spec.checkpoint_every == 0 or final:
                self._publish()
        return Result(self.step, self.versions, stopped=False)
