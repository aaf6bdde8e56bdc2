"""Micro-batching: same bytes in any batch, each request gets its own rows, batch limits, what shares a batch."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
import torch

from app.batcher import MicroBatcher, run
from app.inference import RowwiseLinear, prepare
from app.pool import LoadedModel
from models.checkpoint import load_generator
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


def _loaded(generator, classes=None, precision="fp32", name="m", version="000001") -> LoadedModel:
    device = torch.device("cpu")
    prepared = prepare(generator, device, 100, classes, precision=precision)
    return LoadedModel(name, version, generator, {"latent_dim": 100, "classes": classes}, device, prepared=prepared)


@pytest.fixture(scope="module")
def conditional28() -> LoadedModel:
    cfg = DCGANConfig(height=28, width=28, channels=1, base_width=32, num_classes=10)
    return _loaded(_warmed_generator(cfg), [str(i) for i in range(10)])


@pytest.fixture(scope="module")
def tiny(tiny_registry) -> LoadedModel:
    generator, metadata = load_generator(tiny_registry / "bars" / "000002")
    return _loaded(generator, name="bars", version="000002")


def _labels(loaded: LoadedModel, n: int) -> torch.Tensor | None:
    return torch.arange(n) % 10 if loaded.conditional else None


def _alone(loaded: LoadedModel, z: torch.Tensor, y: torch.Tensor | None) -> np.ndarray:
    return np.concatenate([loaded.prepared.forward(z[i : i + 1], None if y is None else y[i : i + 1])
                           for i in range(len(z))])


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_seed_gives_the_same_pixels_in_any_batch(conditional28, precision):
    loaded = _loaded(conditional28.generator, conditional28.classes, precision=precision)
    z, y = seed_latents(SEEDS, 100), _labels(loaded, len(SEEDS))
    alone = _alone(loaded, z, y)
    for size in (3, 8, 24):
        batched = np.concatenate([run(loaded, z[i : i + size], y[i : i + size]) for i in range(0, len(z), size)])
        assert np.array_equal(batched, alone), f"batch of {size} changed a pixel at {precision}"


def test_fp32_projection_always_runs_row_by_row(conditional28):
    # measured on this CPU: fp32 GEMM on one row uses another kernel than on many, which a small probe can miss
    prepared = conditional28.prepared
    assert prepared.precision == "fp32" and prepared.batchable and prepared.rowwise_linear
    assert any(isinstance(m, RowwiseLinear) for m in conditional28.generator.modules())


def test_rowwise_linear_matches_linear():
    linear = torch.nn.Linear(20, 30)
    x = torch.randn(5, 20)
    torch.testing.assert_close(RowwiseLinear(linear)(x), linear(x))


def test_a_lower_precision_that_drifts_past_the_tolerance_falls_back_to_fp32(conditional28):
    prepared = prepare(conditional28.generator, torch.device("cpu"), 100, conditional28.classes, "bf16",
                       tolerance=-1)
    assert prepared.precision == "fp32"
    assert prepare(conditional28.generator, torch.device("cpu"), 100, conditional28.classes, "bf16",
                   tolerance=255).precision == "bf16"


async def _render_all(batcher: MicroBatcher, requests, stagger_s: float = 0.0) -> list[np.ndarray]:
    async def one(i, loaded, z, y):
        await asyncio.sleep(i * stagger_s)
        return await batcher.render(loaded, z, y)

    return await asyncio.gather(*(one(i, *r) for i, r in enumerate(requests)))


def _requests(loaded: LoadedModel, seeds: list[int]):
    return [(loaded, seed_latents([s], 100), None if not loaded.conditional else torch.tensor([s % 10]))
            for s in seeds]


def _started(**kwargs) -> MicroBatcher:
    batcher = MicroBatcher(**kwargs)
    batcher.start()
    return batcher


def test_concurrent_requests_share_a_forward_and_each_gets_its_own_image(conditional28):
    batcher = _started(max_batch=32)
    try:
        requests = _requests(conditional28, SEEDS[:12])
        results = asyncio.run(_render_all(batcher, requests))
    finally:
        batcher.stop()
    for (loaded, z, y), image in zip(requests, results):
        assert np.array_equal(image, run(loaded, z, y))
    assert batcher.stats.batches < len(requests) and batcher.stats.images == len(requests)


def test_a_lone_request_runs_at_once_and_those_that_come_during_its_forward_share_the_next(conditional28):
    batcher = _started(max_batch=32)
    try:
        asyncio.run(_render_all(batcher, _requests(conditional28, SEEDS[:6])))
    finally:
        batcher.stop()
    # the first found the thread idle and went alone; the five queued behind it went together
    assert batcher.stats.batches == 2 and batcher.stats.largest == 5


def test_a_batch_never_exceeds_the_maximum(conditional28):
    batcher = _started(max_batch=4)
    try:
        asyncio.run(_render_all(batcher, _requests(conditional28, SEEDS[:10])))
    finally:
        batcher.stop()
    assert batcher.stats.largest <= 4 and batcher.stats.batches >= 3


def test_a_request_larger_than_the_maximum_runs_alone_and_whole(conditional28):
    batcher = _started(max_batch=4)
    z, y = seed_latents(SEEDS[:9], 100), _labels(conditional28, 9)
    try:
        [images] = asyncio.run(_render_all(batcher, [(conditional28, z, y)]))
    finally:
        batcher.stop()
    assert images.shape == (9, 28, 28, 1) and np.array_equal(images, run(conditional28, z, y))


def test_a_request_arriving_after_a_forward_is_done_gets_its_own(conditional28):
    batcher = _started(max_batch=32)
    try:
        asyncio.run(_render_all(batcher, _requests(conditional28, SEEDS[:2]), stagger_s=0.5))
    finally:
        batcher.stop()
    assert batcher.stats.batches == 2


def test_each_event_loop_keeps_its_own_line(conditional28):
    batcher = _started(max_batch=32)
    try:
        for seeds in (SEEDS[:3], SEEDS[3:6]):  # asyncio.run: a new loop each time, the old one closed
            requests = _requests(conditional28, seeds)
            for (loaded, z, y), image in zip(requests, asyncio.run(_render_all(batcher, requests))):
                assert np.array_equal(image, run(loaded, z, y))
    finally:
        batcher.stop()
    assert len(batcher._lines) == 1  # the closed loop's line was dropped


def test_finish_runs_on_each_requests_own_rows_and_its_error_stays_its_own(conditional28):
    batcher = _started(max_batch=32)
    z, y = seed_latents([5, 6], 100), torch.tensor([5, 6])

    async def both():
        return await asyncio.gather(batcher.render(conditional28, z, y, finish=lambda rows: rows.shape),
                                    batcher.render(conditional28, z[:1], y[:1], finish=lambda rows: 1 / 0),
                                    return_exceptions=True)

    try:
        shape, error = asyncio.run(both())
    finally:
        batcher.stop()
    assert shape == (2, 28, 28, 1) and isinstance(error, ZeroDivisionError)


def test_finish_runs_on_the_encoder_thread_never_on_the_event_loop(conditional28):
    batcher = _started(max_batch=32)
    z, y = seed_latents([5, 6, 7], 100), torch.tensor([5, 6, 7])

    def where(rows):
        return threading.current_thread().name, rows.copy()

    async def three():
        return await asyncio.gather(*(batcher.render(conditional28, z[i : i + 1], y[i : i + 1], finish=where)
                                      for i in range(3)),
                                    batcher.render(conditional28, z[:1], y[:1], finish=lambda rows: 1 / 0),
                                    return_exceptions=True)

    try:
        *answers, error = asyncio.run(three())
    finally:
        batcher.stop()
    assert {name for name, _ in answers} == {"encoder"}
    for i, (_, rows) in enumerate(answers):  # each its own rows, as a lone render gives them
        assert np.array_equal(rows, run(conditional28, z[i : i + 1], y[i : i + 1]))
    assert isinstance(error, ZeroDivisionError)


def test_stopping_encodes_the_last_batch_instead_of_dropping_it(conditional28):
    batcher = _started(max_batch=32)
    z, y = seed_latents([1], 100), torch.tensor([1])

    def slow_encoding(rows):
        time.sleep(0.2)
        return rows.shape

    async def one_then_stop():
        pending = asyncio.ensure_future(batcher.render(conditional28, z, y, finish=slow_encoding))
        await asyncio.sleep(0.05)  # the forward is done, the encoding under way
        await asyncio.get_running_loop().run_in_executor(None, batcher.stop)
        return await asyncio.wait_for(pending, 5)

    assert asyncio.run(one_then_stop()) == (1, 28, 28, 1)


def test_versions_are_never_mixed_in_one_forward(conditional28, tiny):
    batcher = _started(max_batch=32)
    requests = [r for pair in zip(_requests(conditional28, SEEDS[:6]), _requests(tiny, SEEDS[:6])) for r in pair]
    try:
        results = asyncio.run(_render_all(batcher, requests))
    finally:
        batcher.stop()
    for (loaded, z, y), image in zip(requests, results):
        assert image.shape[1:] == ((28, 28, 1) if loaded is conditional28 else (16, 24, 3))
        assert np.array_equal(image, run(loaded, z, y))
    assert batcher.stats.batches >= 2


def test_switched_off_every_request_runs_its_own_forward(conditional28):
    batcher = _started(max_batch=32, enabled=False)
    try:
        asyncio.run(_render_all(batcher, _requests(conditional28, SEEDS[:5])))
    finally:
        batcher.stop()
    assert batcher.stats.batches == 5


def test_a_failing_forward_fails_its_requests_and_the_thread_goes_on(conditional28):
    batcher = _started(max_batch=32)
    wrong = (conditional28, torch.zeros(1, 7), torch.tensor([0]))  # latent of the wrong size
    try:
        with pytest.raises(RuntimeError):
            asyncio.run(_render_all(batcher, [wrong]))
        [image] = asyncio.run(_render_all(batcher, _requests(conditional28, SEEDS[:1])))
    finally:
        batcher.stop()
    assert image.shape == (1, 28, 28, 1)
