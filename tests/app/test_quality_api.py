"""Quality over real HTTP: per-version metrics, the FD/KID chart, `best` redirects and queued evaluations."""

import io
from pathlib import Path

import pytest
import torch
from PIL import Image

from models.registry import Registry
from models.spec import TrainSpec
from tests.conftest import make_app
from tests.support import LiveServer
from worker.datasets import synthetic
from worker.scoring import Scorer
from worker.trainer import Callbacks, Trainer


@pytest.fixture(scope="module")
def scored_registry(tmp_path_factory) -> Path:
    """Three versions trained for real and scored by the worker's scorer; version 2 pinned as best."""
    root = tmp_path_factory.mktemp("scored")
    registry = Registry(root)
    spec = TrainSpec.model_validate({
        "model": "scored", "dataset": {"kind": "synthetic", "limit": 64}, "architecture": "cdcgan",
        "image_size": 16, "batch_size": 8, "steps": 6, "checkpoint_every": 2, "base_width": 8, "eval_samples": 100})
    data = synthetic(16, 16, 1, count=64)
    scorer = Scorer(spec, data, registry, root / "none", torch.device("cpu"), budget_s=60)

    def publish(c) -> str:
        metrics = scorer.score(c.metadata, c.generator_state)
        return registry.publish("scored", lambda d: c.write(d, {**c.metadata, "metrics": metrics}))

    torch.set_num_threads(1)
    Trainer(spec, data, Callbacks(publish=publish), torch.device("cpu")).run()
    registry.set_best("scored", "000002")
    return root


@pytest.fixture(scope="module")
def quality_live(scored_registry, redis_server):
    with LiveServer(make_app(scored_registry, redis_server.url, queues="quality-api")) as server:
        with server.client() as client:
            yield client


def test_model_detail_shows_each_versions_metrics_with_n_and_extractor(quality_live):
    body = quality_live.get("/models/scored").json()
    assert body["best"] == "000002"
    metrics = body["version_details"]["000003"]["metrics"]
    assert metrics["n"] == 100 and metrics["extractor"].startswith("random-conv")
    assert {"fd", "fd_noise", "kid", "precision", "recall", "density", "coverage", "flags"} <= set(metrics)
    assert body["version_details"]["000003"]["evaluations"] == {}


def test_metrics_png_plots_the_scored_versions(quality_live):
    r = quality_live.get("/models/scored/metrics.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(r.content)).size[0] >= 600


def test_metrics_png_of_an_unknown_model_is_404(quality_live):
    assert quality_live.get("/models/nope/metrics.png").status_code == 404


def test_seed_urls_under_best_redirect_to_the_pinned_version(quality_live):
    r = quality_live.get("/models/scored/seeds/7.png", params={"label": "bar-1", "version": "best"},
                         follow_redirects=False)
    assert r.status_code == 307 and "version=000002" in r.headers["location"] and "label=bar-1" in r.headers["location"]
    pinned = quality_live.get(r.headers["location"])
    assert pinned.status_code == 200 and pinned.headers["x-model-version"] == "000002"
    assert "immutable" in pinned.headers["cache-control"]


def test_generate_accepts_version_best(quality_live):
    r = quality_live.post("/generate", json={"model": "scored", "seeds": [1], "labels": [0], "version": "best"})
    assert r.status_code == 200 and r.headers["x-model-version"] == "000002"


def test_evaluate_queues_a_full_evaluation_of_the_pinned_version(quality_live):
    r = quality_live.post("/models/scored/versions/best/evaluate", json={"n": 500})
    assert r.status_code == 202 and r.headers["location"].endswith(r.json()["id"])
    status = quality_live.get(r.headers["location"]).json()
    assert status["status"] == "queued" and status["versions"] == ["000002"]


def test_evaluate_names_what_to_fix(quality_live):
    assert quality_live.post("/models/scored/versions/000009/evaluate").status_code == 404
    assert quality_live.post("/models/nope/versions/1/evaluate").status_code == 404
    assert quality_live.post("/models/scored/versions/1/evaluate", json={"n": 5}).status_code == 422


def test_the_sample_grid_of_best_redirects_to_the_pinned_version(quality_live):
    r = quality_live.get("/models/scored/versions/best/samples.png", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"].endswith("/models/scored/versions/000002/samples.png")
    assert quality_live.get(r.headers["location"]).status_code == 200


def test_evaluate_needs_a_write_key_when_keys_are_set(scored_registry, redis_server):
    key = "quality-key-0123456789"
    app = make_app(scored_registry, redis_server.url, api_keys=key, queues="quality-keyed")
    with LiveServer(app) as server, server.client() as client:
        assert client.post("/models/scored/versions/1/evaluate").status_code == 401
        assert client.post("/models/scored/versions/1/evaluate",
                           headers={"Authorization": f"Bearer {key}"}).status_code == 202
