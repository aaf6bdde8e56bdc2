"""Running `gan` as a real process: `python -m cli`, the module behind the console script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import REPO_ROOT


def gan_env(registry: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "GAN_REGISTRY_DIR": str(registry), "GAN_SHIPPED_REGISTRY_DIR": str(registry / ".none"),
            "GAN_TORCH_THREADS": "1", "PYTHONPATH": str(REPO_ROOT), **extra}


def gan(*args: str, registry: Path, cwd: Path | None = None, timeout: float = 120, **env: str
        ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd or REPO_ROOT, env=gan_env(registry, **env),
                          capture_output=True, text=True, timeout=timeout)


def gan_process(*args: str, registry: Path, log_path: Path, **env: str) -> subprocess.Popen:
    log = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "cli", *args], cwd=REPO_ROOT, env=gan_env(registry, **env),
                            stdout=log, stderr=subprocess.STDOUT)
