"""A job may resume from a version of the shipped (read-only) registry, through the real worker, as long as
that version kept its training state; one that did not is refused when the job is submitted."""

import pytest

from app.main import create_app
from app.settings import Settings
from tests.conftest import make_settings
from tests.support import LiveServer, train_tiny, wait_for_job, worker_process

pytestmark = pytest.mark.integration


def test_a_job_resumes_from_a_version_in_the_shipped_registry(tmp_path, redis_server):
    registry, shipped = tmp_path / "registry", tmp_path / "shipped"
    train_tiny(shipped, "base", "dcgan", steps=4)  # one version at step 4, with its training state
    queue, log = f"resume-{tmp_path.name}", tmp_path / "worker.log"
    worker = worker_process({"GAN_REGISTRY_DIR": str(registry), "GAN_SHIPPED_REGISTRY_DIR": str(shipped),
                             "GAN_REDIS_URL": redis_server.url, "GAN_QUEUES": queue, "GAN_TORCH_THREADS": "1"}, log)
    settings = make_settings(registry, redis_server.url, queues=queue, shipped_registry_dir=shipped)
    try:
        with LiveServer(create_app(settings, inference_in_process=True)) as server, server.client() as client:
            job = client.post("/train", json={
                "model": "tuned", "dataset": {"kind": "synthetic", "limit": 64}, "architecture": "dcgan",
                "image_size": 32, "batch_size": 8, "base_width": 8, "steps": 6, "checkpoint_every": 6,
                "eval_samples": 0, "resume": {"model": "base", "version": "latest"}})
            assert job.status_code == 202, job.text
            status = wait_for_job(client, job.json()["id"], log)
    finally:
        worker.terminate()
        worker.wait(20)
    assert status["resumed_from_step"] == 4
    assert status["versions"] == ["000001"] and (registry / "tuned" / "000001").is_dir()


def test_resuming_from_a_version_without_training_state_is_refused_at_once(tmp_path):
    settings = Settings(registry_dir=tmp_path / "empty", redis_url="redis://127.0.0.1:1/0")  # the real shipped one
    with LiveServer(create_app(settings, inference_in_process=True)) as server, server.client() as client:
        r = client.post("/train", json={"model": "mine", "dataset": {"kind": "synthetic"}, "architecture": "cdcgan",
                                        "image_size": 28, "resume": {"model": "fashion-cdcgan", "version": "1"}})
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "resume"] and "keeps no training state" in error["msg"]
