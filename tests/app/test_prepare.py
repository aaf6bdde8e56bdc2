"""Preparing a version: the same bytes in any batch, row-by-row fp32 projections, a precision only within its
tolerance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.serving.prepare import Prepared, RowwiseLinear, prepare
from models.dcgan import DCGANConfig, Generator, init_weights
from models.latents import seed_latents

SEEDS = list(range(24))  # not the probe's seeds: what prepare() measured must hold for others too


def _warmed_generator(cfg: DCGANConfig) -> Generator:
    """A random generator whose batch-norm statistics are those of real activations, so images have contrast."""
    torch.manual_seed(0)
    g = Generator(cfg)
    g.apply(init_weights)
    with torch.no_grad():
        for _ in range(3):
            g(torch.randn(64, cfg.latent_dim), torch.randint(0, 10, (64,)) if cfg.num_classes else None)
    return g.eval()


CLASSES = [str(i) for i in range(10)]


@pytest.fixture(scope="module")
def conditional28() -> Generator:
    return _warmed_generator(DCGANConfig(height=28, width=28, channels=1, base_width=32, num_classes=10))


def _alone(prepared: Prepared, z: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    return np.concatenate([prepared.forward(z[i : i + 1], y[i : i + 1]) for i in range(len(z))])


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_seed_gives_the_same_pixels_in_any_batch(conditional28, precision):
    prepared = prepare(conditional28, torch.device("cpu"), 100, CLASSES, precision=precision)
    z, y = seed_latents(SEEDS, 100), torch.arange(len(SEEDS)) % 10
    alone = _alone(prepared, z, y)
    for size in (3, 8, 24):
        batched = np.concatenate([prepared.images(z[i : i + size], y[i : i + size]) for i in range(0, len(z), size)])
        assert np.array_equal(batched, alone), f"batch of {size} changed a pixel at {precision}"


def test_fp32_projection_always_runs_row_by_row(conditional28):
    # measured on this CPU: fp32 GEMM on one row uses another kernel than on many, which a small probe can miss
    prepared = prepare(conditional28, torch.device("cpu"), 100, CLASSES, precision="fp32")
    assert prepared.precision == "fp32" and prepared.batchable and prepared.rowwise_linear
    assert any(isinstance(m, RowwiseLinear) for m in conditional28.modules())


def test_rowwise_linear_matches_linear():
    linear = torch.nn.Linear(20, 30)
    x = torch.randn(5, 20)
    torch.testing.assert_close(RowwiseLinear(linear)(x), linear(x))


def test_a_lower_precision_that_drifts_past_the_tolerance_falls_back_to_fp32(conditional28):
    assert prepare(conditional28, torch.device("cpu"), 100, CLASSES, "bf16", tolerance=-1).precision == "fp32"
    assert prepare(conditional28, torch.device("cpu"), 100, CLASSES, "bf16", tolerance=255).precision == "bf16"
