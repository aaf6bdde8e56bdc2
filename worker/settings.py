"""Worker configuration from `GAN_` environment variables, read once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GAN_", extra="ignore")

    registry_dir: Path = REPO_ROOT / "registry"
    redis_url: str = "redis://127.0.0.1:6379/0"
    queues: str = "training"  # comma-separated, highest priority first
    fashion_mnist_dir: Path = Path("/usr/share/datasets/fashion-mnist")
    data_roots: str = ""  # comma-separated roots that idx/folder datasets may read below
    torch_threads: int = 0  # 0: torch's default (all cores)
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    progress_every_s: float = 2.0
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    # recovery of jobs whose worker died: see worker/recovery.py
    job_monitoring_interval_s: int = 30  # how often a worker renews the heartbeat of its running job
    heartbeat_grace_s: int = 60  # a job whose heartbeat is older than interval + grace is abandoned
    maintenance_interval_s: int = 60  # how often a worker looks for abandoned jobs to retry

    @property
    def queue_names(self) -> list[str]:
        return [q.strip() for q in self.queues.split(",") if q.strip()]

    @property
    def data_root_paths(self) -> list[Path]:
        return [Path(p.strip()) for p in self.data_roots.split(",") if p.strip()]


@lru_cache
def get_settings() -> WorkerSettings:
    return WorkerSettings()
