"""The engine: requests batched on the event loop, each answered with its own bytes, the bytes a runner in this
process gives them alone; the inference process as a real child process, replaced when it dies."""

from __future__ import annotations

import asyncio
import os
import signal

import numpy as np
import pytest
import torch

from app.errors import Unavailable
from app.serving.catalog import Catalog, Version
from app.serving.engine import Engine, InferenceProcessDied
from app.serving.job import Job
from app.serving.runner import Runner
from tests.conftest import make_settings
from tests.support import train_tiny

SEEDS = list(range(30, 62))


def alone(settings, model: str, version: str, job: Job) -> list[bytes]:
    """The job's answer from a runner in this process, rendered by itself: the reference bytes."""
    return Runner(settings.registry(), torch.device("cpu")).render(model, version, [job])[0]


async def with_engine(settings, body, in_process: bool = True):
    """`body(engine, get)` with a started engine and a catalog that loads into it, as the API's do."""
    engine = Engine(settings, in_process=in_process)
    await engine.start()
    catalog = Catalog(settings.registry(), engine, settings.cache_size)

    async def get(model: str, version: str) -> Version:
        return await asyncio.to_thread(catalog.get, model, version)  # a load waits for this loop

    try:
        return await body(engine, get)
    finally:
        await engine.stop()


def seed_job(seed: int, label: int | None = None, truncation: float = 1.0) -> Job:
    return Job(seeds=[seed], labels=None if label is None else [label], truncation=truncation)


def test_requests_queued_during_a_forward_share_the_next_and_get_their_own_bytes(tiny_registry):
    settings = make_settings(tiny_registry)
    jobs = [seed_job(s, s % 4, 0.7 if s % 2 else 1.0) for s in SEEDS[:10]]
    latents = Job(latents=np.full((2, 100), 0.25, dtype=np.float32), output="pngs")

    async def body(engine, get):
        conditional, plain = await get("bars-cond", "2"), await get("bars", "1")
        # the first seed goes alone; the other nine come while it runs and go together; the latents of another
        # version wait their turn without splitting them
        answers = await asyncio.gather(*(engine.render(conditional, job) for job in jobs),
                                       engine.render(plain, latents))
        return answers, engine.stats

    answers, stats = asyncio.run(with_engine(settings, body))
    assert answers[:-1] == [alone(settings, "bars-cond", "000002", job) for job in jobs]
    assert answers[-1] == alone(settings, "bars", "000001", latents)
    assert (stats.batches, stats.largest, stats.images) == (3, 9, 12)


def test_a_batch_never_exceeds_the_maximum_and_a_larger_request_runs_alone_and_whole(tiny_registry):
    settings = make_settings(tiny_registry, batch_max_images=4)
    big = Job(seeds=SEEDS[:9], labels=[1] * 9, output="pngs")

    async def body(engine, get):
        version = await get("bars-cond", "2")
        answers = await asyncio.gather(*(engine.render(version, seed_job(s, 1)) for s in SEEDS[9:19]),
                                       engine.render(version, big))
        return answers, engine.stats

    answers, stats = asyncio.run(with_engine(settings, body))
    assert stats.largest == 9 and stats.batches >= 4  # 1 + 4 + 4 + 1 seed URLs, then the big one alone
    assert answers[-1] == alone(settings, "bars-cond", "000002", big)


def test_each_job_is_encoded_as_it_asked(tiny_registry):
    settings = make_settings(tiny_registry)
    walk = Job(latents=np.linspace(-1, 1, 4 * 100, dtype=np.float32).reshape(4, 100),
               labels=np.eye(10, dtype=np.float32)[[0, 3, 6, 9]], output="gif")
    jobs = [Job(seeds=[1, 2, 3, 4], labels=[2] * 4, output="png", columns=4),
            Job(seeds=[5, 6], labels=[0, 1], output="pngs"), walk]

    async def body(engine, get):
        version = await get("bars-cond", "2")
        return await asyncio.gather(*(engine.render(version, job) for job in jobs))

    grid, pngs, gif = asyncio.run(with_engine(settings, body))
    assert [grid, pngs, gif] == [alone(settings, "bars-cond", "000002", job) for job in jobs]
    assert grid[0][:8] == b"\x89PNG\r\n\x1a\n" and len(pngs) == 2 and gif[0][:6] == b"GIF89a"


def test_a_failing_batch_fails_its_requests_and_the_engine_goes_on(tiny_registry):
    settings = make_settings(tiny_registry)

    async def body(engine, get):
        version = await get("bars-cond", "2")
        with pytest.raises(RuntimeError):  # a latent of the wrong size reaches the forward
            await engine.render(version, Job(latents=np.zeros((1, 7), dtype=np.float32), labels=[0]))
        return await engine.render(version, seed_job(1, 0))

    assert asyncio.run(with_engine(settings, body)) == alone(settings, "bars-cond", "000002", seed_job(1, 0))


def test_a_version_the_process_cannot_load_is_a_503_not_a_500(tiny_registry):
    settings = make_settings(tiny_registry)
    ghost = Version("ghost", "000001", {"latent_dim": 100}, {"batchable": True})

    async def body(engine, get):
        with pytest.raises(Unavailable, match="cannot load"):
            await engine.render(ghost, seed_job(1))
        return await engine.render(await get("bars", "1"), seed_job(1))

    assert asyncio.run(with_engine(settings, body)) == alone(settings, "bars", "000001", seed_job(1))


def test_larger_images_are_encoded_beside_the_next_forward_with_the_same_bytes(tmp_path):
    """Past 32x32 RGB the inference process encodes on its encoder thread while the next batch's forward runs."""
    train_tiny(tmp_path, "wide", "dcgan", steps=2, image_size=48, channels=3)
    settings = make_settings(tmp_path)

    async def body(engine, get):
        version = await get("wide", "1")
        return await asyncio.gather(*(engine.render(version, seed_job(s)) for s in range(10, 16))), engine.stats

    answers, stats = asyncio.run(with_engine(settings, body, in_process=False))
    assert answers == [alone(settings, "wide", "000001", seed_job(s)) for s in range(10, 16)]
    assert stats.batches == 2  # the first seed alone, the other five together


def test_a_dead_inference_process_fails_its_requests_with_503_and_is_replaced(tiny_registry):
    settings = make_settings(tiny_registry)

    async def body(engine, get):
        version = await get("bars-cond", "2")
        first = engine.describe()["pid"]
        expected = await engine.render(version, seed_job(1, 0))
        os.kill(first, signal.SIGKILL)
        answers = []
        for _ in range(200):  # until the new process answers; requests meanwhile fail with a 503, never hang
            try:
                answers.append(await engine.render(version, seed_job(1, 0)))
                break
            except InferenceProcessDied:
                answers.append("died")
                await asyncio.sleep(0.05)
        return expected, answers, engine.describe(), first

    expected, answers, described, first = asyncio.run(with_engine(settings, body, in_process=False))
    assert answers[-1] == expected  # the new process loads the version by itself on its first batch
    assert described["restarts"] == 1 and described["pid"] != first
