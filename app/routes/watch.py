"""Watching a training job: its latest (or an earlier) sample grid, its metric series, and their plot.

The worker writes these files under `<registry>/.jobs/<job_id>/` (models.jobfiles); they are read here
without Redis, so a finished job's curves stay visible while the queue is down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from app.deps import QueueDep, SettingsDep
from app.errors import NotFound
from app.plots import plot_metrics
from app.security import JobAccess
from models import jobfiles

router = APIRouter(prefix="/train", tags=["training"])


def _job_dir(job_id: str, settings, queue) -> Path:
    try:
        directory = jobfiles.job_dir(settings.registry_dir, job_id)
    except ValueError:
        raise NotFound(f"unknown training job {job_id!r}") from None
    if not directory.is_dir():
        queue.status(job_id)  # 404 for an unknown job, else the job has written nothing yet
        raise NotFound(f"training job {job_id!r} has written no samples or metrics yet")
    return directory


@router.get("/{job_id}/samples", response_class=FileResponse, summary="The job's latest sample grid (PNG)",
            responses={200: {"content": {"image/png": {}}}})
def samples(job_id: str, settings: SettingsDep, queue: QueueDep, _key: JobAccess,
            step: Annotated[int | None, Query(ge=0, description="an earlier kept grid; see /metrics")] = None
            ) -> FileResponse:
    directory = _job_dir(job_id, settings, queue)
    steps = jobfiles.sample_steps(directory)
    if not steps:
        raise NotFound(f"training job {job_id!r} has rendered no samples yet")
    if step is None:
        step = steps[-1]
    elif step not in steps:
        raise NotFound(f"no sample grid kept at step {step}; kept: {', '.join(map(str, steps[-20:]))}")
    # the fixed held-out latents rendered at that step: a grid never changes once written
    return FileResponse(jobfiles.sample_path(directory, step), media_type="image/png",
                        headers={"X-Step": str(step), "Cache-Control": "no-cache"})


@router.get("/{job_id}/metrics", summary="Losses and scores per window of steps, as JSON series")
def metrics(job_id: str, settings: SettingsDep, queue: QueueDep, _key: JobAccess,
            since_step: Annotated[int, Query(ge=0, description="only records after this step")] = 0
            ) -> dict[str, Any]:
    directory = _job_dir(job_id, settings, queue)
    return {"job_id": job_id, "records": jobfiles.read_metrics(directory, since_step),
            "sample_steps": jobfiles.sample_steps(directory)}


@router.get("/{job_id}/plot.png", response_class=Response, summary="Losses and scores against step (PNG)",
            responses={200: {"content": {"image/png": {}}}})
def plot(job_id: str, settings: SettingsDep, queue: QueueDep, _key: JobAccess) -> Response:
    directory = _job_dir(job_id, settings, queue)
    png = plot_metrics(jobfiles.read_metrics(directory), f"training job {job_id}")
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-cache"})
