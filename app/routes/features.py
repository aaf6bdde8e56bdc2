"""The discriminator as a feature extractor: POST /models/{name}/features (the DCGAN paper's other half).

Images come as PNG uploads (multipart, field `images`, repeated) or as base64 PNGs in JSON; each is checked
against the model's size and channels before anything runs. The answer is JSON, or with
`Accept: application/octet-stream` the raw little-endian float32 rows with their shape in `X-Shape`.
"""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.deps import serving
from app.direct_route import DirectRoute
from app.errors import InvalidRequest
from app.schemas import FEATURES_MAX_IMAGES, FeaturesOut, FeaturesRequest
from app.serving.inputs import label_indices
from app.serving.job import FeatureJob
from app.uploads import checked_images, read_upload
from models.checkpoint import has_discriminator

router = APIRouter(tags=["discriminator"], route_class=DirectRoute)

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


@router.post("/models/{name}/features", response_model=FeaturesOut, responses=RESPONSES,
             openapi_extra={"requestBody": REQUEST_BODY},
             summary="The trained discriminator's penultimate features of uploaded images")
async def features(name: str, request: Request) -> Response:
    state = serving(request)
    body, pngs = await read_upload(request, FeaturesRequest, "images", FEATURES_MAX_IMAGES, lists=("labels",))
    version = await state.catalog.find(name, body.version)
    if not has_discriminator(version.metadata):
        raise InvalidRequest("version", f"version {version.version} of {name!r} was published without its "
                             "discriminator; pick a version this service trained (each keeps its own) or a "
                             "shipped model that keeps one (docs/api.md)")
    pixels = checked_images(pngs, version, "images", FEATURES_MAX_IMAGES)
    labels = label_indices(body.labels, len(pixels), version)
    [raw] = await state.engine.render(version, FeatureJob(images=pixels, labels=labels))
    rows = np.frombuffer(raw, dtype="<f4").reshape(len(pixels), -1)
    headers = {"X-Shape": f"{rows.shape[0]},{rows.shape[1]}", "X-Model": version.name,
               "X-Model-Version": version.version}
    if RAW in request.headers.get("accept", ""):
        return Response(raw, media_type=RAW, headers=headers)
    return JSONResponse({"model": version.name, "version": version.version, "shape": list(rows.shape),
                         "features": rows.tolist()}, headers=headers)
