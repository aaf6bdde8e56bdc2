"""A real image brought into a version's latent space, so it can be walked and edited.

POST /project: the image comes as a PNG upload (multipart, file field `image`) or base64 in JSON; the inference
process searches for the latent (models/projection.py) on a thread beside the image batches, bounded by `steps`
and `seconds`. POST /projections runs a longer search as a job on the workers (GET /projections/{id}). Either
answer's latent goes into /generate, /interpolate and /arithmetic like any other.
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.deps import CatalogDep, QueueDep, SettingsDep, serving
from app.direct_route import DirectRoute
from app.errors import NotFound
from app.job_inputs import check_queue, pinned_version
from app.schemas import JobAccepted, JobId, ProjectionJobRequest, ProjectionOut, ProjectOut, ProjectRequest
from app.security import Expensive, JobAccess, WriteAccess
from app.serving.inputs import one_label
from app.uploads import checked_images, read_upload

router = APIRouter(tags=["projection"], route_class=DirectRoute)

MULTIPART = {"schema": {"type": "object", "required": ["image", "model"], "properties": {
    "image": {"type": "string", "format": "binary", "description": "a PNG of the model's size and channels"},
    "model": {"type": "string"}, "version": {"type": "string", "default": "latest"},
    "label": {"type": "string"}, "steps": {"type": "integer"}, "seconds": {"type": "number"}}}}


def request_body(schema) -> dict:
    """JSON (the schema) or multipart (the image as a file, the other fields as form fields)."""
    return {"required": True, "content": {"application/json": {"schema": schema.model_json_schema()},
                                          "multipart/form-data": MULTIPART}}


@router.post("/project", response_model=ProjectOut, openapi_extra={"requestBody": request_body(ProjectRequest)},
             summary="Find the latent whose image matches an uploaded one (projection), for walks and arithmetic")
async def project(request: Request) -> JSONResponse:
    state = serving(request)
    body, pngs = await read_upload(request, ProjectRequest, "image", max_files=1)
    version = await state.catalog.find(body.model, body.version)
    [image] = checked_images(pngs, version, "image", max_images=1)
    label = one_label(body.label, version)
    facts, png = await state.engine.project(version, image, label, body.steps, body.seconds)
    return JSONResponse({
        "model": version.name, "version": version.version, "label": None if label is None else version.classes[label],
        "latent": facts["latent"], "reconstruction_png_base64": base64.b64encode(png).decode(), "mse": facts["mse"],
        "loss": facts["loss"], "steps": facts["steps"], "seconds": facts["seconds"], "losses": facts["losses"]})


@router.post("/projections", status_code=202, response_model=JobAccepted,
             openapi_extra={"requestBody": request_body(ProjectionJobRequest)},
             summary="Enqueue a long projection (up to 20,000 steps) as a job on the workers")
async def submit_projection(request: Request, queue: QueueDep, settings: SettingsDep, catalog: CatalogDep,
                            caller: WriteAccess, _rate: Expensive) -> JSONResponse:
    body, pngs = await read_upload(request, ProjectionJobRequest, "image", max_files=1)
    version, metadata = pinned_version(catalog.registry, body.model, body.version)
    found = _Pinned(body.model, metadata)
    checked_images(pngs, found, "image", max_images=1)
    label = one_label(body.label, found)
    spec = {"model": body.model, "version": version, "image": base64.b64encode(pngs[0]).decode(), "label": label,
            "label_name": None if label is None else found.classes[label], "steps": body.steps,
            "seconds": body.seconds}
    job_id = queue.submit_projection(spec, check_queue(body.queue, settings), owner=caller.key_id)
    url = str(request.url_for("projection_status", job_id=job_id))
    return JSONResponse(JobAccepted(id=job_id, status="queued", status_url=url).model_dump(), status_code=202,
                        headers={"Location": url})


@router.get("/projections/{job_id}", response_model=ProjectionOut,
            summary="Status and progress of a projection job; its latent once it has finished")
def projection_status(job_id: JobId, queue: QueueDep, _key: JobAccess) -> ProjectionOut:
    status = queue.status(job_id)
    if status["kind"] != "projection":
        raise NotFound(f"job {job_id} is a {status['kind']} job, not a projection: see /train/{job_id}")
    return ProjectionOut(**status, result=queue.meta(job_id).get("projection"))


class _Pinned:
    """A pinned version's metadata seen as the input checks see a served version."""

    def __init__(self, name: str, metadata: dict):
        self.name, self.metadata = name, metadata
        self.classes, self.latent_dim = metadata.get("classes"), int(metadata["latent_dim"])
