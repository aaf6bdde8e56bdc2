"""The discriminator as a feature extractor: POST /models/{name}/features (the DCGAN paper's other half).

Images come as PNG uploads (multipart, field `images`, repeated) or as base64 PNGs in JSON; each is checked
against the model's size and channels before anything runs. The answer is JSON, or with
`Accept: application/octet-stream` the raw little-endian float32 rows with their shape in `X-Shape`.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from app.deps import serving
from app.errors import InvalidRequest
from app.schemas import FeaturesOut, FeaturesRequest
from app.serving.inputs import label_indices
from app.serving.job import FeatureJob
from models import images as imaging
from models.checkpoint import has_discriminator

router = APIRouter(tags=["discriminator"])

RAW = "application/octet-stream"
REQUEST_BODY = {"required": True, "content": {
    "application/json": {"schema": FeaturesRequest.model_json_schema(ref_template="#/components/schemas/{model}")},
    "multipart/form-data": {"schema": {"type": "object", "required": ["images"], "properties": {
        "images": {"type": "array", "items": {"type": "string", "format": "binary"}, "description": "PNG files"},
        "labels": {"type": "array", "items": {"type": "string"},
                   "description": "conditional models: one class name or index for all images, or one per image"},
        "version": {"type": "string", "default": "latest"}}}}}}
RESPONSES = {200: {"content": {RAW: {}}, "description": "JSON rows, or raw little-endian float32 rows "
                                                         "(Accept: application/octet-stream) shaped as X-Shape"}}


async def _request_body(request: Request, limit: int) -> tuple[FeaturesRequest, list[bytes]]:
    """The request's fields and its images' PNG bytes, from a multipart upload or a JSON body."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form(max_files=limit, max_fields=limit + 2) as form:
            files = form.getlist("images")
            if not files or not all(isinstance(f, UploadFile) for f in files):
                raise InvalidRequest("images", "upload one or more PNG files in the form field `images`")
            pngs = [await f.read() for f in files]
            labels = [int(x) if x.isascii() and x.isdigit() else x for x in form.getlist("labels") if isinstance(x, str)]
            fields = {"version": form.get("version") or "latest", "labels": labels or None}
        try:
            return FeaturesRequest.model_validate({**fields, "images": []}), pngs
        except ValidationError as e:
            raise InvalidRequest(str(e.errors()[0]["loc"][0]), e.errors()[0]["msg"]) from None
    try:
        body = FeaturesRequest.model_validate_json(await request.body())
    except ValidationError as e:
        error = e.errors()[0]
        raise InvalidRequest(".".join(map(str, error["loc"])) or "body", error["msg"]) from None
    pngs = []
    for i, text in enumerate(body.images):
        try:
            pngs.append(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"images.{i}", "not base64: send each PNG file base64-encoded") from None
    return body, pngs


@router.post("/models/{name}/features", response_model=FeaturesOut, responses=RESPONSES,
             openapi_extra={"requestBody": REQUEST_BODY},
             summary="The trained discriminator's penultimate features of uploaded images")
async def features(name: str, request: Request) -> Response:
    state, limit = serving(request), request.app.state.settings.features_max_images
    body, pngs = await _request_body(request, limit)
    if not pngs:
        raise InvalidRequest("images", "send at least one image")
    if len(pngs) > limit:
        raise InvalidRequest("images", f"{len(pngs)} images; send at most {limit} per request")
    version = await state.catalog.find(name, body.version)
    if not has_discriminator(version.metadata):
        raise InvalidRequest("version", f"version {version.version} of {name!r} was published without its "
                             "discriminator; pick a version trained since discriminators are kept")
    shape = version.metadata["image"]
    pixels = []
    for i, png in enumerate(pngs):
        try:
            pixels.append(imaging.decode_png(png, shape["height"], shape["width"], shape["channels"]))
        except ValueError as e:
            raise InvalidRequest(f"images.{i}", str(e)) from None
    labels = label_indices(body.labels, len(pixels), version)
    [raw] = await state.engine.render(version, FeatureJob(images=np.stack(pixels), labels=labels))
    rows = np.frombuffer(raw, dtype="<f4").reshape(len(pixels), -1)
    headers = {"X-Shape": f"{rows.shape[0]},{rows.shape[1]}", "X-Model": version.name,
               "X-Model-Version": version.version}
    if RAW in request.headers.get("accept", ""):
        return Response(raw, media_type=RAW, headers=headers)
    return JSONResponse({"model": version.name, "version": version.version, "shape": list(rows.shape),
                         "features": rows.tolist()}, headers=headers)
