"""POST /project: a real image brought into a version's latent space, so it can be walked and edited.

The image comes as a PNG upload (multipart, file field `image`) or base64 in JSON. The inference process
searches for the latent (models/projection.py) on a thread beside the image batches, bounded by `steps` and
`seconds`; the answer's latent goes into /generate, /interpolate and /arithmetic like any other.
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.deps import serving
from app.schemas import ProjectOut, ProjectRequest
from app.serving.inputs import one_label
from app.uploads import checked_images, read_upload

router = APIRouter(tags=["projection"])

REQUEST_BODY = {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/ProjectRequest"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["image", "model"], "properties": {
        "image": {"type": "string", "format": "binary", "description": "a PNG of the model's size and channels"},
        "model": {"type": "string"}, "version": {"type": "string", "default": "latest"},
        "label": {"type": "string"}, "steps": {"type": "integer", "default": 200},
        "seconds": {"type": "number", "default": 10}}}}}}


@router.post("/project", response_model=ProjectOut, openapi_extra={"requestBody": REQUEST_BODY},
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
