"""A training job, run by a real RQ worker on a real Redis, reports every warning the trainer raises,
including those raised while the trainer is built."""

from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job

from worker.settings import get_settings

SPEC = {"model": "warned", "dataset": {"kind": "synthetic", "limit": 32}, "architecture": "dcgan",
        "image_size": 16, "batch_size": 8, "base_width": 8, "latent_dim": 16, "steps": 2, "checkpoint_every": 2,
        "eval_samples": 0, "precision": "bf16"}


def test_the_emulated_bf16_warning_reaches_the_jobs_warnings(redis_server, tmp_path, monkeypatch):
    # this CPU may run bf16 natively: the warning is for one that only emulates it
    monkeypatch.setattr("models.devices.cpu_has_native_bf16", lambda: False)
    monkeypatch.setenv("GAN_REGISTRY_DIR", str(tmp_path / "registry"))
    monkeypatch.setenv("GAN_SHIPPED_REGISTRY_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("GAN_TORCH_THREADS", "1")
    get_settings.cache_clear()
    redis = Redis.from_url(redis_server.url)
    queue = Queue(f"warnings-{tmp_path.name}", connection=redis)
    job = queue.enqueue_call("worker.jobs.train", args=(SPEC,), timeout=300)
    try:
        SimpleWorker([queue], connection=redis).work(burst=True)  # in this process, so the CPU check is ours
    finally:
        get_settings.cache_clear()
    job = Job.fetch(job.id, connection=redis)
    assert job.get_status() == "finished", job.latest_result()
    assert any("emulated on this CPU" in w for w in job.meta["warnings"]), job.meta["warnings"]
