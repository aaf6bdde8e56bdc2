"""Synthetic datasets over REST: a job that generates up to DATASET_MAX_IMAGES labelled images, its
status, and its archive for download (with range requests) until it expires."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse

from app.deps import CatalogDep, QueueDep, SettingsDep
from app.errors import InvalidRequest, NotFound
from app.job_inputs import check_queue, pinned_version
from app.schemas import DatasetOut, DatasetRequest, JobAccepted, JobId
from app.security import Expensive, JobAccess, WriteAccess, check_may_cancel
from models import dataset_store
from models.architectures import get_architecture
from models.synthesis import MAX_SEED, SynthesisSpec

router = APIRouter(prefix="/datasets", tags=["datasets"])


def class_weights(classes: dict[str, float] | list[float] | None, model: str,
                  known: list[str] | None) -> list[float] | None:
    """One weight per class of the model (uniform by default), checked; None for an unconditional model."""
    if not known:
        if classes is not None:
            raise InvalidRequest("classes", f"model {model!r} is unconditional: leave out classes")
        return None
    if classes is None:
        return [1.0] * len(known)
    if isinstance(classes, list):
        if len(classes) != len(known):
            raise InvalidRequest("classes", f"give one weight per class ({len(known)}: {', '.join(known)}), "
                                            f"not {len(classes)}; or weights by class name")
        weights = classes
    else:
        unknown = [name for name in classes if name not in known]
        if unknown:
            raise InvalidRequest("classes", f"unknown class {unknown[0]!r}; valid: {', '.join(known)}")
        weights = [classes.get(name, 0.0) for name in known]
    if any(w < 0 for w in weights):
        raise InvalidRequest("classes", "class weights must not be negative")
    if sum(weights) <= 0:
        raise InvalidRequest("classes", "the class weights sum to zero: give at least one class a positive weight")
    return weights


def check_truncation(truncation: float, metadata: dict[str, Any]) -> None:
    if truncation != 1.0 and not get_architecture(metadata["architecture"]).truncates:
        raise InvalidRequest("truncation", f"{metadata['architecture']} generators scale each latent to unit "
                                           "length first, so truncation cannot change their images: leave it at 1")


def check_seeds(first_seed: int, n: int) -> None:
    if first_seed + n > MAX_SEED:
        raise InvalidRequest("first_seed", f"seeds {first_seed}..{first_seed + n - 1} pass the largest seed, "
                                           f"{MAX_SEED - 1}: start lower")


@router.post("", status_code=202, response_model=JobAccepted, summary="Enqueue a synthetic dataset job")
def submit(body: DatasetRequest, queue: QueueDep, settings: SettingsDep, catalog: CatalogDep, request: Request,
           caller: WriteAccess, _rate: Expensive) -> JSONResponse:
    version, metadata = pinned_version(catalog.registry, body.model, body.version)
    weights = class_weights(body.classes, body.model, metadata.get("classes"))
    check_truncation(body.truncation, metadata)
    check_seeds(body.first_seed, body.n)
    spec = SynthesisSpec(model=body.model, version=version, n=body.n, weights=weights, truncation=body.truncation,
                         first_seed=body.first_seed, format=body.format, ttl_s=settings.dataset_ttl_s)
    job_id = queue.submit_dataset(spec, check_queue(body.queue, settings), owner=caller.key_id)
    url = str(request.url_for("dataset_status", job_id=job_id))
    return JSONResponse(JobAccepted(id=job_id, status="queued", status_url=url).model_dump(),
                        status_code=202, headers={"Location": url})


def _dataset_job(queue, job_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The job's public view and its meta; 404 for a job that makes no dataset."""
    try:
        status = queue.status(job_id)
    except NotFound:
        raise NotFound(f"unknown dataset {job_id!r}") from None
    if status["kind"] != "dataset":
        raise NotFound(f"job {job_id} is a {status['kind']} job, not a dataset: see /train/{job_id}")
    return status, queue.meta(job_id)


def _directory(settings, job_id: str):
    try:
        return dataset_store.dataset_dir(settings.registry_dir, job_id)
    except ValueError:
        raise NotFound(f"unknown dataset {job_id!r}") from None


def _gone(job_id: str) -> HTTPException:
    return HTTPException(410, f"dataset {job_id} has expired and was deleted (datasets are kept "
                              "GAN_DATASET_TTL_S after they are made): make it again with the same request, "
                              "which gives the same images")


@router.get("/{job_id}", response_model=DatasetOut, summary="Status and progress of a dataset job; its download")
def dataset_status(job_id: JobId, queue: QueueDep, settings: SettingsDep, request: Request,
                   _key: JobAccess) -> DatasetOut:
    status, meta = _dataset_job(queue, job_id)
    out = DatasetOut(**status, request=meta.get("dataset_spec"), bytes=(meta.get("dataset") or {}).get("bytes"))
    directory = _directory(settings, job_id)
    if status["status"] == "finished" and not dataset_store.archive(directory).exists():
        out.expired = True
    elif dataset_store.expired(directory):
        dataset_store.remove(directory)
        out.expired = True
    elif dataset_store.archive(directory).exists():
        out.download_url = str(request.url_for("download_dataset", job_id=job_id))
        out.expires_at = datetime.fromtimestamp(dataset_store.expires_at(directory), timezone.utc).isoformat()
    return out


@router.get("/{job_id}/download", response_class=FileResponse, summary="The dataset's .tar.gz",
            description="Answers range requests (206), so an interrupted download resumes; 409 until the job has "
                        "finished, 410 once the dataset has expired.",
            responses={200: {"content": {"application/gzip": {}}}, 206: {"description": "the requested range"},
                       409: {"description": "not made yet"}, 410: {"description": "expired"}})
def download_dataset(job_id: JobId, queue: QueueDep, settings: SettingsDep, _key: JobAccess) -> FileResponse:
    directory = _directory(settings, job_id)
    archive = dataset_store.archive(directory)
    if dataset_store.expired(directory):
        dataset_store.remove(directory)
        raise _gone(job_id)
    if not archive.exists():
        status, _ = _dataset_job(queue, job_id)
        if status["status"] == "finished":
            raise _gone(job_id)
        if status["status"] in ("failed", "canceled"):
            raise HTTPException(409, f"dataset job {job_id} {status['status']}: there is nothing to download"
                                     + (f" ({status['error']})" if status.get("error") else ""))
        raise HTTPException(409, f"dataset {job_id} is not ready yet ({status['status']}): follow "
                                 f"/datasets/{job_id} until it has finished")
    manifest = dataset_store.read_manifest(directory) or {}
    name = f"{manifest.get('model', 'dataset')}-{manifest.get('version', '')}-{job_id}.tar.gz"
    return FileResponse(archive, media_type="application/gzip", filename=name)


@router.delete("/{job_id}", response_model=DatasetOut, summary="Cancel a dataset job, or delete its dataset",
               description="Only the key that submitted the job, or an admin key, may (403 otherwise).")
def delete_dataset(job_id: JobId, queue: QueueDep, settings: SettingsDep, caller: WriteAccess) -> DatasetOut:
    status, meta = _dataset_job(queue, job_id)
    check_may_cancel(caller, job_id, meta.get("owner"))
    if status["status"] in ("queued", "started"):
        status = queue.cancel(job_id)
    dataset_store.remove(_directory(settings, job_id))
    return DatasetOut(**status, request=meta.get("dataset_spec"), expired=status["status"] == "finished")
