"""Generators served as traced TorchScript graphs: the same bytes as eager, and eager wherever a graph is unsafe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from app.serving.prepare import Prepared, prepare
from models.dcgan import DCGANConfig, Generator, init_weights
from models.latents import seed_latents

SEEDS = list(range(40, 64))  # not the probe's seeds
CLASSES = [str(i) for i in range(10)]


def _generator(cfg: DCGANConfig) -> Generator:
    torch.manual_seed(1)
    g = Generator(cfg)
    g.apply(init_weights)
    with torch.no_grad():  # batch-norm statistics of real activations, so images have contrast
        g(torch.randn(64, cfg.latent_dim), torch.randint(0, 10, (64,)) if cfg.num_classes else None)
    return g.eval()


def _loaded(generator: nn.Module, classes, precision="fp32", use_graph=True) -> Prepared:
    return prepare(generator, torch.device("cpu"), 100, classes, precision=precision, trace=use_graph)


def run(prepared: Prepared, z: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
    return prepared.images(z, labels)


@pytest.fixture(scope="module")
def conditional() -> Generator:
    return _generator(DCGANConfig(height=28, width=28, channels=1, base_width=16, num_classes=10))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_graph_gives_eagers_bytes_in_any_batch(conditional, precision):
    graph = _loaded(conditional, CLASSES, precision)
    eager = _loaded(conditional, CLASSES, precision, use_graph=False)
    assert graph.graph and not eager.graph
    assert graph.precision == eager.precision
    z, y = seed_latents(SEEDS, 100), torch.arange(len(SEEDS)) % 10
    reference = np.concatenate([run(eager, z[i : i + 1], y[i : i + 1]) for i in range(len(z))])
    for size in (1, 5, 24):
        batched = np.concatenate([run(graph, z[i : i + size], y[i : i + size]) for i in range(0, len(z), size)])
        assert np.array_equal(batched, reference), f"graph at batch {size} differs from eager"


def test_unconditional_generator_runs_as_a_graph():
    g = _generator(DCGANConfig(height=32, width=32, channels=3, base_width=16))
    graph, eager = _loaded(g, None), _loaded(g, None, use_graph=False)
    assert graph.graph
    z = seed_latents(SEEDS, 100)
    assert np.array_equal(run(graph, z, None), run(eager, z, None))


def test_class_vectors_run_eagerly_with_the_same_result(conditional):
    # a walk between classes blends one-hot vectors: another input kind than the traced class indices
    graph, eager = _loaded(conditional, CLASSES), _loaded(conditional, CLASSES, use_graph=False)
    t = torch.linspace(0, 1, 6)[:, None]
    vectors = (1 - t) * nn.functional.one_hot(torch.tensor(2), 10) + t * nn.functional.one_hot(torch.tensor(7), 10)
    z = seed_latents(SEEDS[:6], 100)
    assert np.array_equal(run(graph, z, vectors), run(eager, z, vectors))


class _Untraceable(nn.Module):
    """Stands for an architecture the tracer cannot follow."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, z, labels=None):
        if torch.jit.is_tracing():
            raise RuntimeError("cannot be traced")
        return self.inner(z, labels)


class _FixedBatch(nn.Module):
    """Reads the batch size as a Python number, which a trace keeps as a constant of its example."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, z, labels=None):
        n = int(z.shape[0])
        return self.inner(z.reshape(n, -1), labels).reshape(n, *self.inner.out_shape)


@pytest.mark.parametrize("wrapper", [_Untraceable, _FixedBatch])
def test_generators_a_graph_cannot_serve_run_eagerly(wrapper):
    inner = _generator(DCGANConfig(height=16, width=16, channels=1, base_width=8))
    inner.out_shape = (1, 16, 16)
    loaded = _loaded(wrapper(inner).eval(), None)
    assert loaded.batchable and not loaded.graph
    z = seed_latents(SEEDS[:5], 100)
    assert run(loaded, z, None).shape == (5, 16, 16, 1)


def test_a_dropped_version_frees_its_weights():
    # the runner's LRU bounds memory only if nothing else keeps a version's generator or weights alive once it
    # lets the version go, not even reference cycles the tracer leaves
    import gc
    import weakref

    g = _generator(DCGANConfig(height=32, width=32, channels=3, base_width=16))
    loaded = _loaded(g, None)
    assert loaded.graph
    run(loaded, seed_latents(SEEDS[:3], 100), None)
    generator_ref, weight_ref = weakref.ref(g), weakref.ref(next(g.parameters()))
    gc.disable()  # reference counting alone must free them
    try:
        del g, loaded
        assert generator_ref() is None and weight_ref() is None
    finally:
        gc.enable()


def test_versions_of_one_architecture_share_one_trace_and_keep_their_own_weights(monkeypatch):
    from app.serving import graphs

    traces = []
    trace = graphs._trace
    monkeypatch.setattr(graphs, "_trace", lambda *a: traces.append(1) or trace(*a))
    cfg = DCGANConfig(height=16, width=16, channels=3, base_width=12)  # an architecture no other test traces
    versions = []
    for seed in (5, 6, 7):
        torch.manual_seed(seed)
        g = Generator(cfg)
        g.apply(init_weights)
        versions.append(g.eval())
    graph = [_loaded(g, None) for g in versions]
    assert len(traces) == 1 and all(m.graph for m in graph)
    eager = [_loaded(g, None, use_graph=False) for g in versions]
    z = seed_latents(SEEDS[:4], 100)
    images = [run(m, z, None) for m in graph]
    for m, e, im in zip(graph, eager, images):
        assert np.array_equal(im, run(e, z, None))
    assert not np.array_equal(images[0], images[1]) and not np.array_equal(images[1], images[2])
    assert all(p.numel() > 0 for g in versions for p in g.parameters())  # the template took no weights away
