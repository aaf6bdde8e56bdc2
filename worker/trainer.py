"""The training loop: one loop for every architecture and objective, driven by the job spec.

It knows nothing about Redis or RQ: progress, sample grids, checkpoints and cancellation go through the
callbacks it is given, so tests run it in-process.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from models import checkpoint, devices, images as imaging, penalties
from models.architectures import get_architecture, mixes_samples
from models.latents import PRIORS, Prior
from models.losses import get_objective
from models.optimizers import apply_hyperparameters, build_optimizer
from models.spec import TrainSpec
from worker.datasets import TrainingData
from worker.monitor import MetricsWindow, Monitor, batch_diversity

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
    discriminator_state: dict[str, torch.Tensor]

    def write(self, directory: Path, metadata: dict[str, Any]) -> dict[str, Any]:
        """Every file of the version into `directory`, with `metadata` (this checkpoint's, as the caller adds to it)."""
        return checkpoint.write_checkpoint(directory, metadata, self.generator_state, self.training_state,
                                           self.training_info, self.samples_png, self.discriminator_state)


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
    metrics: Callable[[dict[str, float]], None] = lambda record: None  # one record per metrics window
    warning: Callable[[str], None] = lambda message: None  # saturation, mode collapse


@dataclass
class Result:
    step: int
    versions: list[str]
    stopped: bool


def _snapshot(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # state_dict() aliases live tensors: a checkpoint must not change as training goes on
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def ema_decay_at(step: int, decay: float) -> float:
    """The EMA's decay at its `step`-th update: (1 + step) / (10 + step) until that reaches `decay`. A fixed
    0.999 would still hold 82% of the random start after 200 steps; the ramp averages over about the last
    tenth of a short run and over 1 / (1 - decay) steps once the run is long (0.999 from step 8,991)."""
    return min(decay, (1 + step) / (10 + step))


def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            e.lerp_(p, 1.0 - decay)
        for e, b in zip(ema.buffers(), model.buffers()):
            e.copy_(b)  # batch-norm statistics follow the live network


STANDING_BATCHES, STANDING_BATCH_SIZE = 8, 512  # 4,096 samples: a unit's mean to about 1.6% of its spread


@torch.no_grad()
def standing_statistics(generator: nn.Module, prior: Prior, latent_dim: int, num_classes: int, seed: int,
                        device: torch.device) -> nn.Module:
    """A copy of `generator` whose batch-norm statistics are the average over its own batches ("standing
    statistics", as BigGAN serves its EMA), for an EMA whose weights have drifted from the live network the
    copied statistics were measured with. Seeded latents and balanced classes: the same inputs at every version,
    and none drawn from the training's random streams."""
    standing = copy.deepcopy(generator)
    for norm in (m for m in standing.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))):
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the batches, not an exponential one
    standing.train()
    rng = torch.Generator().manual_seed(seed)
    for _ in range(STANDING_BATCHES):
        z = prior.sample(STANDING_BATCH_SIZE, latent_dim, rng).to(device)
        labels = torch.arange(STANDING_BATCH_SIZE, device=device) % num_classes if num_classes else None
        standing(z, labels)
    return standing.eval()


@contextlib.contextmanager
def _frozen(network: nn.Module) -> Iterator[None]:
    """No gradients for the network's trainable parameters inside the block; gradients still flow through it."""
    trainable = [p for p in network.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in trainable:
            p.requires_grad_(True)


class Trainer:
    def __init__(self, spec: TrainSpec, data: TrainingData, callbacks: Callbacks, device: torch.device,
                 progress_every_s: float = 2.0, resume: tuple[dict[str, torch.Tensor], dict[str, str]] | None = None,
                 monitor: Monitor | None = None, channels_last: bool = True):
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
        if self.architecture.init is not None:
            self.G.apply(self.architecture.init)
            self.D.apply(self.architecture.init)
        self.G.to(memory_format=self.memory_format)
        self.D.to(memory_format=self.memory_format)
        # spectral norm then runs one power iteration per D step instead of two, as BigGAN's code does
        self.joint_d_pass = not mixes_samples(self.D)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if spec.ema_decay > 0 else None
        self.opt_choice = {"g": spec.optimizer_choice("g"), "d": spec.optimizer_choice("d")}
        self.opt_g = build_optimizer(self.G.parameters(), self.opt_choice["g"])
        self.opt_d = build_optimizer(self.D.parameters(), self.opt_choice["d"])
        self.d_steps, self.clip = spec.d_steps_value, spec.weight_clip_value
        self.gp_lambda, self.drift = spec.gradient_penalty_value, spec.drift_value
        self.mode_seeking = spec.mode_seeking_value
        self.amp_dtype = devices.training_dtype(device, spec.precision, self.architecture.cpu_bf16)
        # fp16 gradients underflow without loss scaling; bf16 and fp32 need none (the scaler is then a no-op)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        self.rng = torch.Generator(device="cpu").manual_seed(spec.seed)  # data order and latents
        self.prior = PRIORS[spec.latent_distribution]
        self.step = 0
        self.versions: list[str] = []
        self.window = MetricsWindow()
        self.monitor = monitor or Monitor(spec.metrics_every)
        self.warnings: list[str] = []
        if (slow := devices.slow_precision_warning(device, self.amp_dtype)) is not None:
            self.warnings.append(slow)
            self.callbacks.warning(slow)

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
        seeds = list(range(10_000, 10_000 + count))
        return self.prior.seed_latents(seeds, self.spec.latent_dim).to(self.device), labels

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
        info = {"step": str(self.step), "opt_g": opt_g_info, "opt_d": opt_d_info,
                "architecture": self.spec.architecture, "generator_config": json.dumps(self.config, sort_keys=True),
                "opt_g_name": self.opt_choice["g"].name, "opt_d_name": self.opt_choice["d"].name,
                "latent_distribution": self.spec.latent_distribution}
        return tensors, info

    def _load_state(self, tensors: dict[str, torch.Tensor], info: dict[str, str]) -> None:
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

        # a version of another architecture or size cannot continue here: say what differs
        if "architecture" in info and info["architecture"] != self.spec.architecture:
            raise ValueError(f"cannot resume: the version is a {info['architecture']!r} model, "
                             f"this job trains {self.spec.architecture!r}")
        if "generator_config" in info and json.loads(info["generator_config"]) != json.loads(json.dumps(self.config)):
            saved = json.loads(info["generator_config"])
            diff = {k: (saved.get(k), v) for k, v in json.loads(json.dumps(self.config)).items() if saved.get(k) != v}
            raise ValueError(f"cannot resume: the version's networks differ from this job's (saved, asked): {diff}")
        saved_prior = info.get("latent_distribution", "normal")
        if saved_prior != self.spec.latent_distribution:
            raise ValueError(f"cannot resume: the version drew {saved_prior} latents, "
                             f"this job asks for {self.spec.latent_distribution}")
        for network in ("g", "d"):
            saved_name = info.get(f"opt_{network}_name")
            if saved_name and saved_name != self.opt_choice[network].name:
                raise ValueError(f"cannot resume: the version trained {network.upper()} with {saved_name}, "
                                 f"this job asks for {self.opt_choice[network].name}")
        self.G.load_state_dict(part("g."), strict=True)
        self.D.load_state_dict(part("d."), strict=True)
        if self.G_ema is not None:
            ema = part("ema.")
            self.G_ema.load_state_dict(ema or self.G.state_dict(), strict=True)
        self.opt_g.load_state_dict(checkpoint.unflatten_optimizer(tensors, info["opt_g"], "opt_g"))
        self.opt_d.load_state_dict(checkpoint.unflatten_optimizer(tensors, info["opt_d"], "opt_d"))
        apply_hyperparameters(self.opt_g, self.opt_choice["g"])
        apply_hyperparameters(self.opt_d, self.opt_choice["d"])
        self.rng.set_state(tensors["rng.data"])
        torch.set_rng_state(tensors["rng.torch"])
        self.step = int(info["step"])
        if self.step >= self.spec.steps:
            raise ValueError(f"the version to resume is at step {self.step}; set steps above it "
                             "(steps count from the model's first step)")

    # the loop

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        index = torch.randint(len(self.data), (self.spec.batch_size,), generator=self.rng).to(self.device)
        real = self.images[index].float().div_(127.5).sub_(1.0)
        if self.spec.flip_value:
            flip = (torch.rand(real.shape[0], generator=self.rng) < 0.5).to(self.device)
            real = torch.where(flip[:, None, None, None], real.flip(-1), real)
        real = real.contiguous(memory_format=self.memory_format)
        return real, (self.labels[index] if self.num_classes else None)

    def _latents(self, count: int) -> torch.Tensor:
        return self.prior.sample(count, self.spec.latent_dim, self.rng).to(self.device)

    def _d_input(self, images: torch.Tensor) -> torch.Tensor:
        p = self.spec.d_input_dropout
        return F.dropout(images, p, training=True) if p else images

    def _real_targets(self, count: int) -> torch.Tensor:
        """1 - label_smoothing for each real image, 0 for the fraction whose label is flipped."""
        targets = torch.full((count,), 1.0 - self.spec.label_smoothing)
        if self.spec.label_flip:
            targets[torch.rand(count, generator=self.rng) < self.spec.label_flip] = 0.0
        return targets.to(self.device)

    def _set_growth(self) -> dict[str, torch.Tensor]:
        if self.architecture.growth is None:
            return {}
        level, alpha = self.architecture.growth(self.config, self.step, self.spec.steps, self.spec.growth_phase_steps)
        self.growth_state = (level, alpha)
        for network in (self.G, self.D, self.G_ema):
            if network is not None:
                network.set_growth(level, alpha)
        return {"resolution": torch.tensor(float(4 << level)), "alpha": torch.tensor(alpha)}

    def _d_step(self, keep_graph: bool, autocast) -> dict[str, torch.Tensor]:
        """One discriminator (critic) update; on the last of them G's graph is kept for G's update."""
        real, labels = self._batch()
        if self.architecture.fade_reals is not None:
            real = self.architecture.fade_reals(self.config, real, *self.growth_state)
        z = self._latents(real.shape[0])
        self.opt_d.zero_grad(set_to_none=True)
        with autocast:
            with torch.set_grad_enabled(keep_graph):
                fake = self.G(z, labels)
            real_out, fake_out = self._d_outputs(real, fake.detach(), labels)
            # maximize log(D(x)) + log(1 - D(G(z))), or the critic's E[C(x)] - E[C(G(z))]
            loss_d = self.objective.d_loss(real_out, fake_out, self._real_targets(real_out.shape[0]))
        stats = {}
        if self.gp_lambda:
            epsilon = torch.rand(real.shape[0], generator=self.rng).to(self.device)
            # under autocast too, so the penalty's double backward runs in the step's precision (docs/quality.md,
            # "Recipes"); not in fp16, whose unscaled input gradients would underflow
            with autocast if not self.scaler.is_enabled() else contextlib.nullcontext():
                gp = penalties.gradient_penalty(lambda x: self.D(x, labels).float(), real, fake, epsilon)
            loss_d = loss_d + self.gp_lambda * gp
            stats["gradient_penalty"] = gp.detach()
        if self.drift:
            loss_d = loss_d + self.drift * penalties.drift_penalty(real_out)
        self.scaler.scale(loss_d).backward()
        self.scaler.step(self.opt_d)
        self.scaler.update()  # after every optimizer step: with several critic steps, step() may not repeat
        if self.clip:
            penalties.clip_weights(self.D, self.clip)
        self._last = (real, fake, labels, z)
        return {"loss_d": loss_d.detach(), "real_out": real_out.detach(), "fake_out": fake_out.detach(), **stats}

    def _d_outputs(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """D's outputs on real and fake images: one pass over both when no output depends on the rest of its
        batch (layer, spectral or no normalisation), which gives the same outputs with half the passes."""
        if not self.joint_d_pass:
            return self.D(self._d_input(real), labels).float(), self.D(self._d_input(fake), labels).float()
        both = self.D(self._d_input(torch.cat([real, fake])), None if labels is None else torch.cat([labels, labels]))
        return both.float().split([real.shape[0], fake.shape[0]])

    def _set_learning_rates(self) -> None:
        """Both learning rates at this step: constant, then falling linearly to zero at the last step."""
        start = self.spec.lr_decay_from_value * self.spec.steps
        if self.step < start:
            return
        scale = max(0.0, (self.spec.steps - self.step) / max(self.spec.steps - start, 1.0))
        for optimizer, network in ((self.opt_g, "g"), (self.opt_d, "d")):
            for group in optimizer.param_groups:
                group["lr"] = self.opt_choice[network].lr * scale

    def _train_step(self) -> dict[str, torch.Tensor]:
        autocast = devices.autocast(self.device, self.amp_dtype)
        growth = self._set_growth()
        self._set_learning_rates()
        # (1) update D (the critic) d_steps times, each on a fresh batch
        for i in range(self.d_steps):
            d = self._d_step(keep_graph=i == self.d_steps - 1, autocast=autocast)
        real, fake, labels, z = self._last

        # (2) update G on the last D step's fakes
        self.opt_g.zero_grad(set_to_none=True)
        # G's loss needs gradients through D, not D's own: skipping its weight gradients saves a third of
        # D's backward work (the next D step zeroes them anyway)
        with _frozen(self.D):
            with autocast:
                gen_out = self.D(self._d_input(fake), labels).float()
                loss_g = self.objective.g_loss(gen_out)
                if self.mode_seeking:
                    loss_g = loss_g + self.mode_seeking * penalties.mode_seeking(fake, z, labels)
            self.scaler.scale(loss_g).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        if self.G_ema is not None:
            _ema_update(self.G_ema, self.G, ema_decay_at(self.step, self.spec.ema_decay))
        stats = {"loss_d": d["loss_d"], "loss_g": loss_g.detach(), **growth}
        if self.objective.probability_output:
            # MATLAB's scores: G wants D(G(z)) high, D wants D(x) high and D(G(z)) low
            stats["score_g"] = torch.sigmoid(gen_out.detach()).mean()
            stats["score_d"] = (torch.sigmoid(d["real_out"]).mean() + 1 - torch.sigmoid(d["fake_out"]).mean()) / 2
        else:
            stats["wasserstein"] = d["real_out"].mean() - d["fake_out"].mean()
        if "gradient_penalty" in d:
            stats["gradient_penalty"] = d["gradient_penalty"]
        return stats

    def _record(self) -> dict[str, float] | None:
        """Flush the metrics window into one record, with the diversity of the last fake batch."""
        means = self.window.flush()
        if means is None:
            return None
        real, fake, labels, _ = self._last
        with torch.no_grad():
            spread = batch_diversity(real, labels).clamp_min(1e-6)
            means["diversity"] = (batch_diversity(fake, labels) / spread).item()
        record = {"step": self.step, **{k: round(v, 6) for k, v in means.items()}}
        self.callbacks.metrics(record)
        for message in self.monitor.check(record):
            self.warnings.append(message)
            self.callbacks.warning(message)
        return record

    @staticmethod
    def _summaries(record: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
        losses = {"d": record["loss_d"], "g": record["loss_g"]}
        if "score_g" in record:
            scores = {"generator": record["score_g"], "discriminator": record["score_d"]}
        else:
            scores = {"wasserstein_estimate": record["wasserstein"]}
        return losses, scores

    def served_generator(self) -> nn.Module:
        """What a version publishes and serves: the EMA where the job keeps one, else the raw generator; where
        the recipe asks, a copy of the EMA with its batch-norm statistics measured on its own samples (8
        forwards of 512: call it once per use)."""
        if self.G_ema is None:
            return self.G
        if not self.architecture.defaults.standing_statistics:
            return self.G_ema
        return standing_statistics(self.G_ema, self.prior, self.spec.latent_dim, self.num_classes, self.spec.seed,
                                   self.device)

    @torch.no_grad()
    def sample_grid(self, G: nn.Module) -> bytes:
        was_training = G.training
        G.eval()
        out = G(self.fixed_z, self.fixed_labels)
        G.train(was_training)
        return imaging.encode_png(imaging.grid(imaging.to_uint8(out), columns=SAMPLE_COLUMNS))

    def _checkpoint(self, served: nn.Module) -> Checkpoint:
        tensors, info = self._training_state()
        metadata = {
            "architecture": self.spec.architecture,
            "objective": self.spec.objective_name,
            "generator_config": self.config,
            "latent_dim": self.spec.latent_dim,
            "latent_distribution": self.spec.latent_distribution,
            "image": {"height": self.spec.height, "width": self.spec.width, "channels": self.spec.channels},
            "classes": self.data.class_names if self.num_classes else None,
            "step": self.step,
            "dataset": {**self.spec.dataset.model_dump(), "description": self.data.description,
                        "images": len(self.data)},
            "training": self.spec.model_dump(mode="json"),
            "effective": self.spec.effective(),
            "ema": self.G_ema is not None,
            "trained_on": {"device": str(self.device), "precision": str(self.amp_dtype).removeprefix("torch.")},
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        return Checkpoint(self.step, metadata, _snapshot(served.state_dict()),
                          _snapshot(tensors), info, self.sample_grid(served), _snapshot(self.D.state_dict()))

    def _publish(self, served: nn.Module) -> None:
        version = self.callbacks.publish(self._checkpoint(served))
        self.versions.append(version)

    def run(self) -> Result:
        with devices.subnormals_flushed(self.device):
            return self._run()

    def _run(self) -> Result:
        self.G.train()
        self.D.train()
        spec = self.spec
        last_report, window_start, window_step = 0.0, time.monotonic(), self.step
        record: dict[str, float] | None = None
        while self.step < spec.steps:
            self.window.add(self._train_step())
            self.step += 1
            now = time.monotonic()
            final = self.step == spec.steps
            if self.step % spec.metrics_every == 0 or final:
                # .item() synchronises: once per window, never per step
                record = self._record() or record
            if now - last_report >= self.progress_every_s or final:
                losses, scores = self._summaries(record) if record else ({}, {})
                rate = (self.step - window_step) * spec.batch_size / max(now - window_start, 1e-9)
                eta = (spec.steps - self.step) * spec.batch_size / max(rate, 1e-9)
                self.callbacks.progress(Progress(self.step, spec.steps, losses, scores, rate, eta,
                                                 list(self.warnings)))
                last_report, window_start, window_step = now, now, self.step
                if not final and self.callbacks.should_stop():
                    self._record()
                    self._publish(self.served_generator())
                    return Result(self.step, self.versions, stopped=True)
            sample = self.step % spec.sample_every == 0 and not final
            publish = self.step % spec.checkpoint_every == 0 or final
            if sample or publish:
                served = self.served_generator()  # once for both: for the MLPs it costs 8 forwards of 512
                if sample:
                    self.callbacks.samples(self.step, self.sample_grid(served))
                if publish:
                    self._publish(served)
        return Result(self.step, self.versions, stopped=False)
