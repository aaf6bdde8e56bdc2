"""The inference process: real child processes, real registries, real HTTP; the same bytes as the in-process engine."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from app.errors import Unavailable
from app.inference import forward_images, preparer
from app.main import create_app
from app.pool import GeneratorPool, LoadedModel
from app.process_engine import InferenceProcessDied, ProcessEngine
from models import images as imaging
from models.latents import seed_latents, truncate
from tests.conftest import make_settings
from tests.support import LiveServer, train_tiny, wait_until


def prepared_here(settings, model: str, version: str) -> LoadedModel:
    """The version loaded and prepared in this process, as the thread engine runs it: the reference bytes."""
    prepare = preparer(settings.precision_for, settings.precision_tolerance, settings.channels_last)
    pool = GeneratorPool(settings.registry(), torch.device("cpu"),
                         settings.cache_size, prepare=prepare)
    return pool.get(model, version)


def lone_png(model: LoadedModel, seed: int, label: int | None, truncation: float = 1.0) -> bytes:
    """The image of one seed, rendered alone in this process by a model from `prepared_here`."""
    latent = truncate(seed_latents([seed], model.latent_dim), truncation)
    labels = None if label is None else torch.tensor([label])
    return imaging.encode_png(forward_images(model, latent, labels)[0])


async def with_engine(settings, body):
    """`body(engine, get)` with a started engine and a pool that loads into it, as the API's does, on this loop."""
    engine = ProcessEngine(settings, settings.batch_max_images, settings.batching)
    await engine.start()
    pool = GeneratorPool(settings.registry(), torch.device("cpu"),
                         settings.cache_size, prepare=engine.prepare_there, keep_generators=False)

    async def get(model: str, version: str) -> LoadedModel:
        return await asyncio.to_thread(pool.get, model, version)  # prepare_there waits for this loop

    try:
        return await body(engine, get)
    finally:
        await engine.stop()


def test_requests_queued_during_a_forward_share_the_next_and_get_their_own_bytes(tiny_registry):
    settings = make_settings(tiny_registry, inference_process=True)

    async def body(engine, get):
        conditional, plain = await get("bars-cond", "2"), await get("bars", "1")
        seeds = list(range(30, 40))
        latents = seed_latents([7, 8], plain.latent_dim)
        # the first seed goes alone; the other nine come while it runs and go together; the latents of another
        # version wait their turn without splitting them
        results = await asyncio.gather(
            *(engine.render_seed_png(conditional, s, s % 4, 0.7 if s % 2 else 1.0) for s in seeds),
            engine.render(plain, latents, None))
        return results, engine.stats, conditional, plain, latents

    results, stats, conditional, plain, latents = asyncio.run(with_engine(settings, body))
    pngs, images = results[:-1], results[-1]
    here = prepared_here(settings, "bars-cond", "2")
    assert pngs == [lone_png(here, s, s % 4, 0.7 if s % 2 else 1.0) for s in range(30, 40)]
    assert np.array_equal(images, forward_images(prepared_here(settings, "bars", "1"), latents, None))
    assert (stats.batches, stats.largest, stats.images) == (3, 9, 12)


def test_larger_images_are_encoded_beside_the_next_forward_with_the_same_bytes(tmp_path):
    """Past 32x32 RGB the process encodes on its encoder thread while the next batch's forward runs."""
    train_tiny(tmp_path, "wide", "dcgan", steps=2, image_size=48, channels=3)
    settings = make_settings(tmp_path, inference_process=True)

    async def body(engine, get):
        model = await get("wide", "1")
        latents = seed_latents([3, 4, 5], model.latent_dim)
        results = await asyncio.gather(*(engine.render_seed_png(model, s, None, 1.0) for s in range(10, 16)),
                                        engine.render(model, latents, None))
        return results, engine.stats, model, latents

    results, stats, model, latents = asyncio.run(with_engine(settings, body))
    assert results[-1][0].nbytes == 48 * 48 * 3 > 32 * 32 * 3
    here = prepared_here(settings, "wide", "1")
    assert results[:-1] == [lone_png(here, s, None) for s in range(10, 16)]
    assert np.array_equal(results[-1], forward_images(here, latents, None))
    assert stats.batches == 3  # the first seed alone, the other five together, then the latents


def test_a_dead_inference_process_fails_its_requests_with_503_and_is_replaced(tiny_registry):
    settings = make_settings(tiny_registry, inference_process=True)

    async def body(engine, get):
        model = await get("bars-cond", "2")
        first = engine.describe()["pid"]
        expected = await engine.render_seed_png(model, 1, 0, 1.0)
        os.kill(first, signal.SIGKILL)
        answers = []
        for _ in range(200):  # until the new process answers; requests meanwhile fail with a 503, never hang
            try:
                answers.append(await engine.render_seed_png(model, 1, 0, 1.0))
                break
            except InferenceProcessDied:
                answers.append("died")
                await asyncio.sleep(0.05)
        return expected, answers, engine.describe(), first

    expected, answers, described, first = asyncio.run(with_engine(settings, body))
    assert answers[-1] == expected  # the new process loads the version by itself on its first batch
    assert described["restarts"] == 1 and described["pid"] != first


def test_a_version_the_process_cannot_load_is_a_503_not_a_500(tiny_registry):
    settings = make_settings(tiny_registry, inference_process=True)
    ghost = LoadedModel("ghost", "000001", torch.nn.Identity(), {"latent_dim": 8}, torch.device("cpu"))

    async def body(engine, get):
        with pytest.raises(Unavailable, match="cannot load"):
            await engine.render_seed_png(ghost, 1, None, 1.0)
        return engine.describe()["restarts"]

    assert asyncio.run(with_engine(settings, body)) == 0  # the process lives on


def test_the_api_takes_the_processs_choices_and_never_runs_the_generator_itself(tiny_registry):
    """The version is prepared once, in the inference process; the API's pool describes it by that process's
    probes (what /readyz reports and batching follows), keeps no weights, and its own forward refuses rather
    than run silently."""
    settings = make_settings(tiny_registry, inference_process=True)

    async def body(engine, get):
        return await get("bars-cond", "2")

    api_side = asyncio.run(with_engine(settings, body))
    here = prepared_here(settings, "bars-cond", "2")
    assert api_side.prepared.choices() == here.prepared.choices()
    assert api_side.dtype == here.dtype
    assert api_side.generator is None  # its weights were checked, then freed: only the process holds them
    with pytest.raises(RuntimeError, match="runs in the inference process"):
        forward_images(api_side, seed_latents([1], api_side.latent_dim), torch.tensor([0]))


@pytest.fixture(scope="module")
def servers(tiny_registry, tmp_path_factory):
    """The same registry served with the inference process and with the in-process engine."""
    registry = tmp_path_factory.mktemp("process-registry") / "r"
    shutil.copytree(tiny_registry, registry)
    process_app = create_app(make_settings(registry, inference_process=True))
    with LiveServer(process_app) as process, LiveServer(create_app(make_settings(registry))) as thread:
        with process.client() as p, thread.client() as t:
            yield process_app, p, t, registry


GENERATION = [
    ("get", "/models/bars-cond/seeds/5.png", {"label": "3", "version": "2"}),
    ("get", "/models/bars-cond/seeds/6.png", {"label": "bar-1", "truncation": "0.5"}),
    ("get", "/models/bars/seeds/7.png", {"version": "1"}),
    ("post", "/generate", {"model": "bars-cond", "seeds": [1], "labels": [2]}),
    ("post", "/generate", {"model": "bars-cond", "seeds": [1, 2, 3, 4], "labels": [2]}),
    ("post", "/generate", {"model": "bars", "latents": [[0.25] * 100, [-0.5] * 100], "format": "json"}),
    ("post", "/interpolate", {"model": "bars-cond", "start": {"seed": 1, "label": 0}, "end": {"seed": 2, "label": 3},
                              "steps": 6, "format": "json"}),
]


@pytest.mark.parametrize("method,path,params", GENERATION)
def test_every_generation_endpoint_answers_the_in_process_engines_bytes(servers, method, path, params):
    _, process, thread, _ = servers
    kwargs = {"params": params} if method == "get" else {"json": params}
    a, b = getattr(process, method)(path, **kwargs), getattr(thread, method)(path, **kwargs)
    assert a.status_code == b.status_code == 200
    assert a.content == b.content
    assert a.headers.get("etag") == b.headers.get("etag")


def test_concurrent_seed_urls_are_batched_in_the_process_with_the_bytes_of_lone_ones(servers):
    app, process, thread, _ = servers
    seeds = list(range(200, 232))
    lone = {s: thread.get(f"/models/bars-cond/seeds/{s}.png", params={"label": "1"}).content for s in seeds}

    def fetch(seed: int) -> bytes:
        r = process.get(f"/models/bars-cond/seeds/{seed}.png", params={"label": "1"})
        assert r.status_code == 200
        return r.content

    with ThreadPoolExecutor(16) as executor:
        assert dict(zip(seeds, executor.map(fetch, seeds))) == lone


def test_bad_input_is_still_a_422_before_the_process_sees_it(servers):
    _, process, _, _ = servers
    r = process.get("/models/bars-cond/seeds/5.png", params={"label": "99"})
    assert r.status_code == 422 and "out of range" in r.text
    r = process.get("/models/bars-cond/seeds/5.png")
    assert r.status_code == 422 and "conditional" in r.text


def test_readyz_names_the_inference_process(servers):
    _, process, thread, _ = servers
    described = process.get("/readyz").json()["inference"]
    assert described["engine"] == "process" and described["restarts"] == 0
    os.kill(described["pid"], 0)  # alive
    assert thread.get("/readyz").json()["inference"]["engine"] == "thread"


def test_the_inference_process_waits_passively_unless_told_otherwise(servers):
    """Its idle OpenMP threads sleep rather than spin against a worker training on the same cores."""
    _, process, _, _ = servers
    pid = process.get("/readyz").json()["inference"]["pid"]
    with open(f"/proc/{pid}/environ", "rb") as f:
        environment = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
    assert environment[b"OMP_WAIT_POLICY"] == os.environ.get("OMP_WAIT_POLICY", "PASSIVE").encode()


def test_a_new_version_is_served_from_the_process_once_it_lands(servers):
    """Hot swap: the pool moves `latest` only once the inference process has the new version too."""
    _, process, thread, registry = servers
    url = "/models/bars/seeds/3.png"
    before = process.get(url)
    new = train_tiny(registry, "bars", "dcgan", steps=2, image_size=(16, 24), channels=3)[-1]
    wait_until(lambda: process.get(url).headers["x-model-version"] == new, 30, what="the hot swap")
    after = process.get(url)
    assert before.headers["x-model-version"] != new
    assert after.content == thread.get(url, params={"version": new}).content


def test_the_inference_process_ends_with_the_api(tiny_registry):
    with LiveServer(create_app(make_settings(tiny_registry, inference_process=True))) as server:
        with server.client() as client:
            pid = client.get("/readyz").json()["inference"]["pid"]
            assert client.get("/models/bars/seeds/1.png").status_code == 200
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
