"""Worker configuration: the common settings plus the worker's own, read once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from config.settings import CommonSettings


class WorkerSettings(CommonSettings):
    fashion_mnist_dir: Path = Path("/usr/share/datasets/fashion-mnist")
    progress_every_s: float = 2.0
    # how often a worker renews its running job's heartbeat and looks for abandoned jobs to retry; a job whose
    # heartbeat is three intervals old is abandoned (worker/recovery.py)
    heartbeat_interval_s: int = 30


@lru_cache
def get_settings() -> WorkerSettings:
    return WorkerSettings()
