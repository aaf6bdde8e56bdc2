"""Every architecture of the table trains a few steps on tiny synthetic data and publishes a servable checkpoint."""

import math

import pytest
import torch

from models import checkpoint
from models.architectures import ARCHITECTURES
from models.spec import TrainSpec
from worker.datasets import synthetic
from worker.trainer import Callbacks, Trainer

torch.set_num_threads(1)

# (architecture, extra spec fields, image size, channels): small enough for a few seconds each
CASES = [
    ("gan", {"objective": "minimax"}, 16, 1),
    ("gan", {"objective": "non-saturating"}, 16, 1),
    ("cgan", {"condition": "multiply"}, 16, 1),
    ("cgan", {"condition": "concatenate"}, 16, 1),
    ("dcgan", {"base_width": 8, "kernel_size": 5}, 32, 1),
    ("dcgan", {"base_width": 8, "upsample": "nearest"}, (16, 20), 3),
    ("cdcgan", {"base_width": 8}, 28, 1),
    # a conditional WGAN-GP is the conditional DCGAN with the Wasserstein objective and a penalty
    ("cdcgan", {"base_width": 8, "objective": "wasserstein", "gradient_penalty": 10, "d_norm": "layer",
                "d_steps": 2}, 28, 1),
    # SN-GAN's recipe on the conditional DCGAN: hinge loss, spectral normalisation, two learning rates
    ("cdcgan", {"base_width": 8, "objective": "hinge", "d_norm": "spectral",
                "optimizer_g": {"lr": 1e-4, "betas": [0.0, 0.9]}, "optimizer_d": {"lr": 4e-4, "betas": [0.0, 0.9]}},
     28, 1),
    ("wgan", {"base_width": 8}, 32, 1),
    ("wgan-gp", {"base_width": 8}, 32, 3),
    ("progan", {"base_width": 16}, 16, 1),
]


def _spec(architecture, extra, size, channels, **fields) -> TrainSpec:
    return TrainSpec.model_validate({"model": "t", "dataset": {"kind": "synthetic"}, "architecture": architecture,
                                     "image_size": size, "channels": channels, "batch_size": 8, "steps": 4,
                                     "checkpoint_every": 100, "metrics_every": 2, **extra, **fields})


def _train(spec: TrainSpec, published: list, records: list | None = None) -> Trainer:
    callbacks = Callbacks(publish=lambda c: published.append(c) or f"{len(published):06d}",
                          metrics=(records.append if records is not None else lambda r: None))
    trainer = Trainer(spec, synthetic(spec.height, spec.width, spec.channels, count=32), callbacks,
                      torch.device("cpu"), progress_every_s=0.0)
    return trainer


def test_every_architecture_in_the_table_is_covered():
    assert {c[0] for c in CASES} == set(ARCHITECTURES)


@pytest.mark.parametrize("architecture,extra,size,channels", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_a_few_steps_change_both_networks_keep_losses_finite_and_publish_a_servable_generator(
        architecture, extra, size, channels, tmp_path):
    spec = _spec(architecture, extra, size, channels)
    published, records = [], []
    trainer = _train(spec, published, records)
    g_before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    d_before = {k: v.clone() for k, v in trainer.D.state_dict().items()}
    trainer.run()
    assert any(not torch.equal(g_before[k], v) for k, v in trainer.G.state_dict().items())
    assert any(not torch.equal(d_before[k], v) for k, v in trainer.D.state_dict().items())
    assert [r["step"] for r in records] == [2, 4]
    assert all(math.isfinite(v) for r in records for v in r.values())

    c = published[-1]
    c.write(tmp_path, c.metadata)
    generator, metadata = checkpoint.load_generator(tmp_path)
    labels = torch.tensor([0, 3]) if ARCHITECTURES[architecture].conditional else None
    out = generator(torch.randn(2, spec.latent_dim), labels)
    assert out.shape == (2, channels, spec.height, spec.width)
    assert metadata["image"] == {"height": spec.height, "width": spec.width, "channels": channels}
