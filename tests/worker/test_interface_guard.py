"""A real RQ worker refuses, before training, a job that would change an existing model's interface: it may
come from a client that skipped the API, or hold class names only the data tells."""

from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job

from models.registry import Registry
from tests.support import train_tiny
from worker.settings import get_settings


def test_a_job_that_would_change_the_image_shape_fails_before_training_and_says_why(redis_server, tmp_path,
                                                                                    monkeypatch):
    registry = tmp_path / "registry"
    train_tiny(registry, "bars", "dcgan", steps=2, image_size=(16, 24), channels=3)
    monkeypatch.setenv("GAN_REGISTRY_DIR", str(registry))
    monkeypatch.setenv("GAN_SHIPPED_REGISTRY_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("GAN_TORCH_THREADS", "1")
    get_settings.cache_clear()
    redis = Redis.from_url(redis_server.url)
    queue = Queue(f"interface-{tmp_path.name}", connection=redis)
    spec = {"model": "bars", "dataset": {"kind": "synthetic", "limit": 32}, "architecture": "dcgan",
            "image_size": 16, "channels": 3, "batch_size": 8, "base_width": 8, "steps": 2, "eval_samples": 0}
    job = queue.enqueue_call("worker.jobs.train", args=(spec,), timeout=300)
    try:
        SimpleWorker([queue], connection=redis).work(burst=True)
    finally:
        get_settings.cache_clear()
    job = Job.fetch(job.id, connection=redis)
    assert job.get_status() == "failed"
    assert "image: 16x16x3, not 16x24x3" in job.get_meta()["error"]
    assert Registry(registry).versions("bars") == ["000001"]  # nothing trained, nothing published
