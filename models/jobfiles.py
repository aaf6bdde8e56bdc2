"""Where a training job's artefacts live inside the registry root, shared by the worker (writes) and the API
(reads): `<registry>/.jobs/<job_id>/samples/<step:08d>.png`, `<registry>/.jobs/<job_id>/metrics.jsonl` and
`<registry>/.jobs/<job_id>/model` (the model it trains). With the versions' metadata, which name the job that
published them, they are the job's record that outlives Redis."""

from __future__ import annotations

import json
import re
from pathlib import Path

from models import checkpoint
from models.registry import Registry

JOBS_DIR = ".jobs"
METRICS = "metrics.jsonl"
SAMPLES = "samples"
MODEL = "model"
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def job_dir(registry_root: Path, job_id: str) -> Path:
    if not _JOB_ID.match(job_id):
        raise ValueError(f"job id {job_id!r} is not a job id (letters, digits, '-' and '_')")
    return registry_root / JOBS_DIR / job_id


def sample_path(directory: Path, step: int) -> Path:
    return directory / SAMPLES / f"{step:08d}.png"


def sample_steps(directory: Path) -> list[int]:
    """Steps of the kept sample grids, oldest first."""
    try:
        names = [p.stem for p in (directory / SAMPLES).iterdir() if p.suffix == ".png"]
    except FileNotFoundError:
        return []
    return sorted(int(n) for n in names if n.isdigit())


def read_metrics(directory: Path, since_step: int = 0) -> list[dict]:
    """The job's metric records after `since_step`; a line being written as we read is skipped."""
    try:
        lines = (directory / METRICS).read_text().splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("step", 0) > since_step:
            records.append(record)
    return records


def append_metrics(directory: Path, records: list[dict]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / METRICS, "a") as f:
        f.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))


def truncate_metrics(directory: Path, after_step: int) -> None:
    """A retried job resumes from its last checkpoint: drop the records it is about to write again."""
    path = directory / METRICS
    if path.exists():
        kept = [r for r in read_metrics(directory) if r.get("step", 0) <= after_step]
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in kept))
        tmp.replace(path)


def write_model(directory: Path, model: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MODEL).write_text(model)


def read_model(directory: Path) -> str | None:
    try:
        return (directory / MODEL).read_text().strip() or None
    except OSError:
        return None


def published_by(registry: Registry, model: str, job_id: str) -> list[str]:
    """Versions of `model` that job `job_id` published, oldest first: the registry is the record that
    survives a worker's death or a Redis that lost the job, whatever Redis says."""
    mine = []
    for version in registry.versions(model):
        try:
            if checkpoint.read_metadata(registry.path(model, version)).get("job_id") == job_id:
                mine.append(version)
        except (checkpoint.CheckpointError, OSError):
            continue
    return mine
