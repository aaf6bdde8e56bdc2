"""Worker configuration: the common settings plus the worker's own, read once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from config.settings import CommonSettings


class WorkerSettings(CommonSettings):
    fashion_mnist_dir: Path = Path("/usr/share/datasets/fashion-mnist")
    progress_every_s: float = 2.0
    eval_budget_s: float = 120.0  # sampling time allowed per checkpoint score; fewer samples past it, noted
    # recovery of jobs whose worker died: see worker/recovery.py
    job_monitoring_interval_s: int = 30  # how often a worker renews the heartbeat of its running job
    heartbeat_grace_s: int = 60  # a job whose heartbeat is older than interval + grace is abandoned
    maintenance_interval_s: int = 60  # how often a worker looks for abandoned jobs to retry


@lru_cache
def get_settings() -> WorkerSettings:
    return WorkerSettings()
