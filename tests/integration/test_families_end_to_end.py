"""A new family through the real stack: POST /train -> Redis -> worker process -> registry -> /generate,
watched while it trains through /samples, /metrics and /plot.png, then resumed by a second job."""

import io

import pytest
from PIL import Image

from tests.support import wait_for_job

pytestmark = pytest.mark.integration


def test_a_progressive_gan_trains_over_rest_is_watched_served_and_resumed(stack):
    client, worker_log = stack
    job = client.post("/train", json={
        "model": "grown", "dataset": {"kind": "synthetic"}, "architecture": "progan", "image_size": 16,
        "channels": 3, "batch_size": 8, "base_width": 8, "steps": 30, "checkpoint_every": 30, "sample_every": 10,
        "metrics_every": 5, "growth_phase_steps": 6, "seed": 0}).json()
    status = wait_for_job(client, job["id"], worker_log)
    assert status["versions"] == ["000001"] and set(status["progress"]["scores"]) == {"wasserstein_estimate"}

    metrics = client.get(f"/train/{job['id']}/metrics").json()
    assert [r["step"] for r in metrics["records"]] == [5, 10, 15, 20, 25, 30]
    assert [r["resolution"] for r in metrics["records"]][0] == 4 and metrics["records"][-1]["resolution"] == 16
    assert metrics["sample_steps"] == [10, 20, 30]
    grid = client.get(f"/train/{job['id']}/samples", params={"step": 10})
    assert grid.status_code == 200 and grid.headers["content-type"] == "image/png"
    assert client.get(f"/train/{job['id']}/plot.png").headers["content-type"] == "image/png"

    image = Image.open(io.BytesIO(client.post("/generate", json={"model": "grown", "seeds": [1]}).content))
    assert image.size == (16, 16) and image.mode == "RGB"

    # a second job continues the first one's weights, optimizer state and step
    more = client.post("/train", json={
        "model": "grown", "dataset": {"kind": "synthetic"}, "architecture": "progan", "image_size": 16,
        "channels": 3, "batch_size": 8, "base_width": 8, "steps": 40, "checkpoint_every": 40, "seed": 0,
        "resume": {"model": "grown", "version": "latest"}}).json()
    status = wait_for_job(client, more["id"], worker_log)
    assert status["versions"] == ["000002"]
    assert client.get("/models/grown").json()["version_details"]["000002"]["metadata"]["step"] == 40


def test_a_saturating_discriminator_shows_up_as_a_warning_in_the_job_status(stack):
    client, worker_log = stack
    # a generator that cannot learn against a fast discriminator: D's score goes to 1, G's to 0
    job = client.post("/train", json={
        "model": "doomed", "dataset": {"kind": "synthetic"}, "architecture": "dcgan", "image_size": 16,
        "batch_size": 8, "base_width": 8, "steps": 250, "checkpoint_every": 250, "seed": 0,
        "optimizer_g": {"lr": 1e-9}, "optimizer_d": {"lr": 2e-3},
        "eval_samples": 0}).json()  # no quality scoring: its promotion guard would add a warning of its own
    status = wait_for_job(client, job["id"], worker_log)
    assert len(status["warnings"]) == 1 and "discriminator has saturated" in status["warnings"][0]
    assert status["progress"]["scores"]["discriminator"] > 0.99
