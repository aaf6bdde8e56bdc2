"""Where synthetic datasets live and when they go, shared by the worker (writes them, removes expired ones)
and the API (serves them, refuses expired ones): `<registry>/.datasets/<job_id>/` holds `dataset.tar.gz`,
`manifest.json` (the archive's own) and `expires_at` (Unix time). The archive appears last, whole, by rename:
its presence means the dataset is ready."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from models.jobfiles import job_dir

DATASETS_DIR = ".datasets"
ARCHIVE = "dataset.tar.gz"
MANIFEST = "manifest.json"
EXPIRES = "expires_at"


def dataset_dir(registry_root: Path, job_id: str) -> Path:
    """ValueError for anything but a job id, as jobfiles.job_dir."""
    return registry_root / DATASETS_DIR / job_dir(registry_root, job_id).name


def archive(directory: Path) -> Path:
    return directory / ARCHIVE


def save(directory: Path, facts: dict[str, Any], ttl_s: float, write: Callable[[Path], None]) -> Path:
    """`write(path)` makes the archive at a scratch path, which then becomes the dataset's archive, to be kept
    `ttl_s` seconds from now; on any error the directory goes."""
    directory.mkdir(parents=True, exist_ok=True)
    scratch = directory / f".{ARCHIVE}.part"
    try:
        write(scratch)
        (directory / MANIFEST).write_text(json.dumps(facts, indent=1))
        (directory / EXPIRES).write_text(f"{time.time() + ttl_s:.3f}")
        os.replace(scratch, archive(directory))
    except BaseException:
        remove(directory)
        raise
    return archive(directory)


def expires_at(directory: Path) -> float | None:
    try:
        return float((directory / EXPIRES).read_text())
    except (OSError, ValueError):
        return None


def expired(directory: Path, now: float | None = None) -> bool:
    moment = expires_at(directory)
    return moment is not None and moment <= (time.time() if now is None else now)


def read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def remove(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def remove_expired(registry_root: Path, now: float | None = None) -> list[str]:
    """Delete every expired dataset; the job ids whose datasets went."""
    try:
        directories = list((registry_root / DATASETS_DIR).iterdir())
    except FileNotFoundError:
        return []
    gone = [d for d in directories if expired(d, now)]
    for directory in gone:
        remove(directory)
    return [d.name for d in gone]
