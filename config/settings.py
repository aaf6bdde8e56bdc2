"""The settings every process reads: `GAN_` environment variables, once per process.

The API (`app/settings.py`) and the worker (`worker/settings.py`) extend `CommonSettings` with their own; the
CLI reads the common ones. Everything is documented in one table in README.md (Configuration).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from models.registry import Registry, open_registry

REPO_ROOT = Path(__file__).resolve().parent.parent


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GAN_", extra="ignore")

    registry_dir: Path = REPO_ROOT / "registry"
    shipped_registry_dir: Path = REPO_ROOT / "models" / "shipped"  # read-only, behind the registry
    redis_url: str = "redis://127.0.0.1:6379/0"
    # comma-separated; the API enqueues on the first unless a job names another of them, a worker takes
    # jobs from all of them, highest priority first
    queues: str = "training"
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    torch_threads: int = 0  # 0: every core, less those the process keeps for other work (torch_thread_count)
    data_roots: str = ""  # comma-separated roots that idx/folder datasets may read below
    log_format: Literal["text", "json"] = "text"  # json: one object per line, for log shippers
    log_level: str = "INFO"

    @property
    def queue_names(self) -> list[str]:
        names = list(dict.fromkeys(q.strip() for q in self.queues.split(",") if q.strip()))
        return names or ["training"]

    @property
    def data_root_paths(self) -> list[Path]:
        return [Path(p.strip()) for p in self.data_roots.split(",") if p.strip()]

    def registry(self) -> Registry:
        """The registry with the shipped default behind it: what every process reads models from."""
        return open_registry(self.registry_dir, self.shipped_registry_dir)

    def torch_thread_count(self, reserved_cores: int = 0) -> int:
        """The setting, or with 0 the cores this process may run on less `reserved_cores`, at least one."""
        return self.torch_threads or max(1, len(os.sched_getaffinity(0)) - reserved_cores)
