"""Training jobs over REST: submit, watch, list, cancel."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.deps import CatalogDep, QueueDep, SettingsDep
from app.errors import InvalidRequest
from app.job_inputs import check_queue
from app.schemas import JobAccepted, JobId, JobOut, JobsOut, TrainRequest
from app.security import Expensive, JobAccess, WriteAccess, check_may_cancel
from models import interface
from models.names import InvalidName
from models.checkpoint import has_training_state
from models.registry import Registry, VersionNotFound
from models.spec import TrainSpec, resolve_dataset_path

router = APIRouter(prefix="/train", tags=["training"])

def check_dataset(spec: TrainSpec, settings) -> None:
    if spec.dataset.path is not None:
        try:
            resolve_dataset_path(spec.dataset.path, settings.data_root_paths)
        except ValueError as e:
            raise InvalidRequest("dataset.path", str(e)) from None


def check_resume(spec: TrainSpec, registry: Registry) -> None:
    """A job that resumes from a version nobody can find, or one without the training state, would only fail
    in the worker: refuse it now."""
    if spec.resume is None:
        return
    model = spec.resume.model
    try:
        version = registry.resolve(model, spec.resume.version)
        resumable = has_training_state(registry.path(model, version))
    except (VersionNotFound, InvalidName):
        raise InvalidRequest("resume", f"model {model!r} has no version {spec.resume.version!r} to resume from; "
                             f"versions: {', '.join(registry.versions(model)) or 'none'}") from None
    if not resumable:
        raise InvalidRequest("resume", f"version {version} of {model!r} keeps no training state (the "
                             "discriminator and optimizers) to resume from; resume from a version a job published")


def check_interface(spec: TrainSpec, registry: Registry) -> None:
    """A job that would change what requests to an existing model mean would only fail in the worker."""
    try:
        interface.refuse_changes(registry, spec)
    except interface.InterfaceChanged as e:
        raise InvalidRequest("model", str(e)) from None


@router.post("", status_code=202, response_model=JobAccepted, summary="Enqueue a training job")
def submit(body: TrainRequest, queue: QueueDep, settings: SettingsDep, catalog: CatalogDep, request: Request,
           caller: WriteAccess, _rate: Expensive) -> JSONResponse:
    spec = body.spec()
    check_dataset(spec, settings)
    check_resume(spec, catalog.registry)
    check_interface(spec, catalog.registry)
    job_id = queue.submit(spec, check_queue(body.queue, settings), owner=caller.key_id)
    url = str(request.url_for("job_status", job_id=job_id))
    return JSONResponse(JobAccepted(id=job_id, status="queued", status_url=url).model_dump(),
                        status_code=202, headers={"Location": url})


@router.get("", response_model=JobsOut, summary="Recent training jobs, newest first")
def list_jobs(queue: QueueDep, _key: JobAccess) -> JobsOut:
    return JobsOut(jobs=[JobOut(**j) for j in queue.list()])


@router.get("/{job_id}", response_model=JobOut, summary="Status, progress, versions and error of a job")
def job_status(job_id: JobId, queue: QueueDep, _key: JobAccess) -> JobOut:
    return JobOut(**queue.status(job_id))


@router.delete("/{job_id}", response_model=JobOut, summary="Cancel a job; a running one stops at its next report",
               description="Only the key that submitted the job, or an admin key, may cancel it (403 otherwise).")
def cancel(job_id: JobId, queue: QueueDep, caller: WriteAccess) -> JobOut:
    check_may_cancel(caller, job_id, queue.owner(job_id))
    return JobOut(**queue.cancel(job_id))
