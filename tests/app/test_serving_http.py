"""The serving engine through real HTTP: concurrent requests are batched yet answer the bytes of lone ones."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app import batcher as batcher_module
from app.main import create_app
from tests.conftest import make_settings
from tests.support import LiveServer


@pytest.fixture(scope="module")
def served(tiny_registry):
    # every forward takes 50 ms more, as a large model's would: requests sent together then find one running
    # and queue behind it, so they share the next, however fast this machine parses them
    def slow_run(*args):
        time.sleep(0.05)
        return real_run(*args)

    real_run = batcher_module.run
    app = create_app(make_settings(tiny_registry))
    with pytest.MonkeyPatch.context() as patch, LiveServer(app) as server:
        patch.setattr(batcher_module, "run", slow_run)
        yield app, server


def test_concurrent_requests_answer_the_bytes_of_lone_seed_urls(served):
    app, server = served
    seeds = list(range(100, 112))
    with server.client() as client:
        lone = {s: client.get(f"/models/bars-cond/seeds/{s}.png", params={"label": 3, "version": "2"}).content
                for s in seeds}

    def generate(seed: int) -> bytes:
        with server.client() as c:
            r = c.post("/generate", json={"model": "bars-cond", "version": "2", "seeds": [seed], "labels": [3]})
            assert r.status_code == 200
            return r.content

    before = app.state.batcher.stats.batches
    with ThreadPoolExecutor(len(seeds)) as executor:
        together = dict(zip(seeds, executor.map(generate, seeds)))
    assert together == lone
    assert app.state.batcher.stats.batches - before < len(seeds)  # some shared a forward pass


def test_a_repeated_seed_url_comes_from_the_cache(served):
    app, server = served
    cache = app.state.seed_cache
    with server.client() as client:
        first = client.get("/models/bars/seeds/7.png", params={"version": "1"})
        hits = cache.hits
        again = client.get("/models/bars/seeds/7.png", params={"version": "1"})
    assert again.content == first.content and cache.hits == hits + 1
    assert again.headers["x-model-version"] == "000001"


def test_readyz_tells_how_each_loaded_version_is_run(served):
    _, server = served
    with server.client() as client:
        client.get("/models/bars/seeds/1.png", params={"version": "2"})
        loaded = {(m["model"], m["version"]): m for m in client.get("/readyz").json()["models_loaded"]}
    entry = loaded[("bars", "000002")]
    assert entry["precision"] in ("fp32", "bf16") and isinstance(entry["batched"], bool)
    assert 0 <= entry["max_pixel_diff_vs_fp32"] <= 4  # the default tolerance
    assert entry["graph"] is True  # a DCGAN traces, and the probe found the graph's bytes equal to eager's


def test_the_api_collects_garbage_at_its_configured_threshold(tiny_registry):
    import gc

    before = gc.get_threshold()
    try:
        with LiveServer(create_app(make_settings(tiny_registry, gc_threshold=12_345))):
            assert gc.get_threshold()[0] == 12_345
    finally:
        gc.set_threshold(*before)


def test_the_api_sets_its_configured_switch_interval(tiny_registry):
    import sys

    before = sys.getswitchinterval()
    try:
        with LiveServer(create_app(make_settings(tiny_registry, switch_interval_ms=0.25))):
            assert sys.getswitchinterval() == 0.25 / 1000
    finally:
        sys.setswitchinterval(before)
