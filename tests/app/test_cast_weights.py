"""Weights cast once for reduced precision: autocast's bytes, without its per-call cast of every weight."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from app.serving.prepare import _one_by_one, _probe_inputs, _runner, _with_cast_weights, prepare
from models.dcgan import DCGANConfig, Generator, init_weights
from models.latents import seed_latents

SEEDS = list(range(70, 94))  # not the probe's seeds
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def conditional() -> Generator:
    torch.manual_seed(2)
    g = Generator(DCGANConfig(height=28, width=28, channels=1, base_width=16, num_classes=10))
    g.apply(init_weights)
    with torch.no_grad():  # batch-norm statistics of real activations, so images have contrast
        g(torch.randn(64, 100), torch.randint(0, 10, (64,)))
    return g.eval()


@pytest.mark.parametrize("use_graph", [True, False])
def test_bf16_serves_cast_weights_with_autocasts_bytes_in_any_batch(conditional, use_graph):
    prepared = prepare(conditional, CPU, 100, [str(i) for i in range(10)], precision="bf16", trace=use_graph)
    assert prepared.precision == "bf16" and prepared.cast_weights and prepared.graph == use_graph
    # the loaded generator keeps its fp32 weights: fp32 references and fallbacks run on it
    assert all(p.dtype == torch.float32 for p in conditional.parameters())
    z, y = seed_latents(SEEDS, 100), torch.arange(len(SEEDS)) % 10
    autocast = _runner(conditional, CPU, "bf16")  # casts every weight at every call
    reference = _one_by_one(autocast, z, y)
    for size in (1, 5, 24):
        served = np.concatenate([prepared.forward(z[i : i + size], y[i : i + size]) for i in range(0, len(z), size)])
        assert np.array_equal(served, reference), f"batch {size} differs from autocast's bytes"


def test_fp32_keeps_the_generator_as_it_is(conditional):
    assert not prepare(conditional, CPU, 100, [str(i) for i in range(10)], precision="fp32").cast_weights


class DoubledConv(nn.ConvTranspose2d):
    """A layer computing its weight at each call (as equalised learning rate does): not cast."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv_transpose2d(x, self.weight * 2, self.bias)


class Tiny(nn.Module):
    def __init__(self, layer: nn.Module):
        super().__init__()
        self.project, self.layer = nn.Linear(8, 4 * 4 * 4), layer

    def forward(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        return torch.tanh(self.layer(self.project(z).view(-1, 4, 4, 4)))


def test_only_plain_layers_are_cast_and_only_when_the_bytes_agree():
    torch.manual_seed(3)
    model = Tiny(DoubledConv(4, 1, 4, 2, 1)).eval()
    z, labels = _probe_inputs(8, None)
    forward = _runner(model, CPU, "bf16")
    alone = _one_by_one(forward, z, None)
    cast, cast_forward, was_cast = _with_cast_weights(model, CPU, "bf16", forward, z, labels, alone)
    assert was_cast and cast is not model
    assert cast.project.weight.dtype == torch.bfloat16  # a plain Linear
    assert cast.layer.weight.dtype == torch.float32  # the subclass computes its weight in fp32 as before
    assert model.project.weight.dtype == torch.float32  # the original is untouched
    assert np.array_equal(_one_by_one(cast_forward, z, None), alone)
    # bytes that disagree keep the module as it was
    wrong = np.zeros_like(alone)
    same, same_forward, was_cast = _with_cast_weights(model, CPU, "bf16", forward, z, labels, wrong)
    assert same is model and same_forward is forward and not was_cast
    assert _with_cast_weights(model, CPU, "fp32", forward, z, labels, alone)[2] is False
