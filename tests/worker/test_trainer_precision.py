"""Mixed precision in the one training loop: `auto` on CPU is bf16 for the DCGAN family where the CPU runs it
natively, else fp32; forced half precisions train and record it."""

import math

import pytest
import torch

from models.spec import TrainSpec
from worker.datasets import synthetic
from worker.trainer import Callbacks, Trainer


def _run(precision: str, architecture: str = "dcgan"):
    spec = TrainSpec.model_validate({"model": "t", "dataset": {"kind": "synthetic"}, "architecture": architecture,
                                     "image_size": 16, "batch_size": 8, "base_width": 8, "latent_dim": 16,
                                     "steps": 3, "checkpoint_every": 3, "precision": precision})
    published, progress = [], []
    trainer = Trainer(spec, synthetic(16, 16, 1, count=32), Callbacks(publish=lambda c: published.append(c) or "1",
                      progress=progress.append), torch.device("cpu"), progress_every_s=0.0)
    trainer.run()
    return trainer, published[-1], progress


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_on_cpu_is_bf16_for_dcgan_on_native_bf16_and_never_loss_scaled(monkeypatch, native):
    monkeypatch.setattr("models.devices.cpu_has_native_bf16", lambda: native)
    trainer, checkpoint, _ = _run("auto")
    expected = "bfloat16" if native else "float32"
    assert trainer.amp_dtype == getattr(torch, expected) and not trainer.scaler.is_enabled()
    assert checkpoint.metadata["trained_on"] == {"device": "cpu", "precision": expected}


def test_auto_precision_keeps_fp32_for_families_not_checked_in_bf16(monkeypatch):
    monkeypatch.setattr("models.devices.cpu_has_native_bf16", lambda: True)
    trainer, checkpoint, _ = _run("auto", "gan")
    assert trainer.amp_dtype == torch.float32
    assert checkpoint.metadata["trained_on"]["precision"] == "float32"


@pytest.mark.parametrize("precision, dtype", [("bf16", "bfloat16"), ("fp16", "float16")])
def test_forced_half_precision_trains_with_finite_losses_and_fp32_weights(precision, dtype):
    trainer, checkpoint, progress = _run(precision)
    assert trainer.scaler.is_enabled() == (precision == "fp16")  # fp16 gradients need loss scaling
    assert all(math.isfinite(v) for p in progress for v in p.losses.values())
    assert checkpoint.metadata["trained_on"]["precision"] == dtype
    assert all(t.dtype == torch.float32 for t in checkpoint.generator_state.values() if t.is_floating_point())


@pytest.mark.parametrize("native", [True, False])
def test_half_precision_on_a_cpu_that_emulates_it_warns_the_job(monkeypatch, native):
    # an AVX2-only CPU ran a bf16 convolution 26x slower than fp32: the job's progress says so
    monkeypatch.setattr("models.devices.cpu_has_native_bf16", lambda: native)
    _, _, progress = _run("bf16")
    emulated = [w for w in progress[-1].warnings if "emulated on this CPU" in w]
    assert bool(emulated) != native
    _, _, progress = _run("auto")
    assert not any("emulated" in w for w in progress[-1].warnings)


@pytest.mark.parametrize("precision, under_autocast", [("bf16", True), ("fp16", False), ("fp32", False)])
def test_the_gradient_penalty_runs_in_the_steps_precision_but_never_in_unscaled_fp16(monkeypatch, precision,
                                                                                     under_autocast):
    from models import penalties
    seen, real_penalty = [], penalties.gradient_penalty

    def watched(*args):
        seen.append(torch.is_autocast_enabled("cpu"))
        return real_penalty(*args)

    monkeypatch.setattr(penalties, "gradient_penalty", watched)
    _, _, progress = _run(precision, "wgan-gp")
    assert seen and set(seen) == {under_autocast}
    assert all(math.isfinite(v) for p in progress for v in p.losses.values())
