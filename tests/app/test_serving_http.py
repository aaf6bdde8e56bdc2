"""The serving engine through real HTTP: concurrent requests are batched yet answer the bytes of lone ones, and
the inference process, a real child process, answers what the tests' in-process server answers."""

from __future__ import annotations

import gc
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.main import GC_THRESHOLD
from app.serving.runner import Runner
from tests.conftest import make_app
from tests.support import LiveServer, train_tiny, wait_until


@pytest.fixture(scope="module")
def servers(tiny_registry, tmp_path_factory):
    """The same registry served by an app with its inference process and by one with the in-process server."""
    registry = tmp_path_factory.mktemp("process-registry") / "r"
    shutil.copytree(tiny_registry, registry)
    process_app, thread_app = make_app(registry, inference_process=True), make_app(registry)
    with LiveServer(process_app) as process, LiveServer(thread_app) as thread:
        with process.client() as p, thread.client() as t:
            yield p, t, thread_app, thread, registry


def test_concurrent_requests_share_forwards_and_answer_the_bytes_of_lone_seed_urls(servers, monkeypatch):
    process, _, thread_app, thread, _ = servers
    # every forward takes 50 ms more, as a large model's would: requests sent together then find one running
    # and queue behind it, so they share the next, however fast this machine parses them
    images = Runner.images
    monkeypatch.setattr(Runner, "images", lambda *args: time.sleep(0.05) or images(*args))
    seeds = list(range(100, 112))
    lone = {s: process.get(f"/models/bars-cond/seeds/{s}.png", params={"label": 3, "version": "2"}).content
            for s in seeds}

    def generate(seed: int) -> bytes:
        with thread.client() as c:
            r = c.post("/generate", json={"model": "bars-cond", "version": "2", "seeds": [seed], "labels": [3]})
            assert r.status_code == 200
            return r.content

    stats = thread_app.state.serving.engine.stats
    before = stats.batches
    with ThreadPoolExecutor(len(seeds)) as executor:
        together = dict(zip(seeds, executor.map(generate, seeds)))
    assert together == lone
    assert stats.batches - before < len(seeds)  # some shared a forward pass


GENERATION = [
    ("get", "/models/bars-cond/seeds/5.png", {"label": "3", "version": "2"}),
    ("get", "/models/bars-cond/seeds/6.png", {"label": "bar-1", "truncation": "0.5"}),
    ("get", "/models/bars/seeds/7.png", {"version": "1"}),
    ("post", "/generate", {"model": "bars-cond", "seeds": [1], "labels": [2]}),
    ("post", "/generate", {"model": "bars-cond", "seeds": [1, 2, 3, 4], "labels": [2]}),
    ("post", "/generate", {"model": "bars", "latents": [[0.25] * 100, [-0.5] * 100], "format": "json"}),
    ("post", "/interpolate", {"model": "bars-cond", "start": {"seed": 1, "label": 0}, "end": {"seed": 2, "label": 3},
                              "steps": 6, "format": "json"}),
    ("post", "/interpolate", {"model": "bars", "start": {"seed": 1}, "end": {"seed": 2}, "steps": 3, "format": "gif"}),
    ("post", "/arithmetic", {"model": "bars-cond", "terms": [{"seeds": [1, 2], "label": 1},
                                                             {"weight": -1, "seeds": [3], "label": 1}],
                             "variations": 2, "format": "json"}),
]


@pytest.mark.parametrize("method,path,params", GENERATION)
def test_every_generation_endpoint_answers_the_same_bytes_from_the_inference_process(servers, method, path, params):
    process, thread, *_ = servers
    kwargs = {"params": params} if method == "get" else {"json": params}
    a, b = getattr(process, method)(path, **kwargs), getattr(thread, method)(path, **kwargs)
    assert a.status_code == b.status_code == 200
    assert a.content == b.content
    assert a.headers.get("etag") == b.headers.get("etag")


def test_a_repeated_seed_url_comes_from_the_cache(servers):
    _, thread, thread_app, *_ = servers
    stats = thread_app.state.serving.engine.stats
    first = thread.get("/models/bars/seeds/7.png", params={"version": "1"})
    images = stats.images
    again = thread.get("/models/bars/seeds/7.png", params={"version": "1"})
    assert again.content == first.content and stats.images == images  # no forward for it
    assert again.headers["x-model-version"] == "000001"


def test_readyz_tells_how_each_loaded_version_is_run_and_by_which_process(servers):
    process, *_ = servers
    process.get("/models/bars/seeds/1.png", params={"version": "2"})
    ready = process.get("/readyz").json()
    entry = {(m["model"], m["version"]): m for m in ready["models_loaded"]}[("bars", "000002")]
    assert entry["precision"] in ("fp32", "bf16") and isinstance(entry["batched"], bool)
    assert 0 <= entry["max_pixel_diff_vs_fp32"] <= 4  # the tolerance
    assert entry["graph"] is True  # a DCGAN traces, and the probe found the graph's bytes equal to eager's
    assert ready["inference"]["restarts"] == 0
    os.kill(ready["inference"]["pid"], 0)  # alive


def test_the_inference_process_waits_passively_unless_told_otherwise(servers):
    """Its idle OpenMP threads sleep rather than spin against a worker training on the same cores."""
    process, *_ = servers
    pid = process.get("/readyz").json()["inference"]["pid"]
    with open(f"/proc/{pid}/environ", "rb") as f:
        environment = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
    assert environment[b"OMP_WAIT_POLICY"] == os.environ.get("OMP_WAIT_POLICY", "PASSIVE").encode()


def test_a_new_version_is_served_from_the_process_once_it_lands(servers):
    """Hot swap: `latest` moves only once the inference process has loaded the new version."""
    process, thread, _, _, registry = servers
    url = "/models/bars/seeds/3.png"
    before = process.get(url)
    new = train_tiny(registry, "bars", "dcgan", steps=2, image_size=(16, 24), channels=3)[-1]
    wait_until(lambda: process.get(url).headers["x-model-version"] == new, 30, what="the hot swap")
    assert before.headers["x-model-version"] != new
    assert process.get(url).content == thread.get(url, params={"version": new}).content


def test_the_inference_process_ends_with_the_api(tiny_registry):
    with LiveServer(make_app(tiny_registry, inference_process=True)) as server, server.client() as client:
        pid = client.get("/readyz").json()["inference"]["pid"]
        assert client.get("/models/bars/seeds/1.png").status_code == 200
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_the_api_collects_garbage_rarely(servers):
    assert gc.get_threshold()[0] == GC_THRESHOLD
