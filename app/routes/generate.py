"""Generation: POST /generate and the cacheable seed URLs for <img src>."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from app.deps import serving
from app.direct_route import DirectRoute
from app.errors import NotFound
from app.responses import provenance_headers
from app.schemas import GenerateRequest, ImagesOut, SeedRequest
from app.serving.encoding import base64_pngs
from app.serving.inputs import checked_latents, checked_truncation, label_indices, random_seeds, seed_label
from app.serving.job import Job
from models import images as imaging
from models.names import InvalidName
from models.provenance import SOFTWARE, Provenance
from models.registry import VersionNotFound

router = APIRouter(tags=["generation"], route_class=DirectRoute)

IMAGE_RESPONSES = {200: {"content": {"image/png": {}}, "description": "the image, or a grid of several"}}
SEED_PATH = "/models/{name}/seeds/{seed}.png"


@router.post("/generate", response_model=ImagesOut, responses=IMAGE_RESPONSES,
             summary="Generate images from latents, seeds or a count, with class labels for conditional models")
async def generate(body: GenerateRequest, request: Request) -> Response:
    state = serving(request)
    engine, catalog = state.engine, state.catalog
    version = await catalog.find(body.model, body.version)
    seeds = random_seeds(body.n) if body.n else body.seeds
    labels = label_indices(body.labels, body.count, version)
    job = Job(seeds=None if body.latents else seeds, truncation=checked_truncation(body.truncation, version),
              labels=labels,
              latents=None if body.latents is None else checked_latents(body.latents, version, "latents"),
              output="png" if body.format == "png" else "pngs")
    parts = await engine.render(version, job)
    classes = version.classes
    provenance = Provenance.of(version, seeds or None, None if labels is None else [classes[i] for i in labels],
                               job.truncation)
    if body.format == "png":
        return Response(provenance.stamp(parts[0]), media_type="image/png", headers=provenance_headers(provenance))
    pngs = base64_pngs([provenance.of_image(i).stamp(part) for i, part in enumerate(parts)])
    images = [{"png_base64": png, "seed": seeds[i] if seeds else None,
               "label": classes[labels[i]] if labels is not None else None, "latent": None}
              for i, png in enumerate(pngs)]
    answer = {"model": version.name, "version": version.version, "images": images}
    return JSONResponse(answer, headers=provenance_headers(provenance))


SEED_PARAMETERS = [*SeedRequest.parameters(),
                   {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}]


@router.get(SEED_PATH, responses=IMAGE_RESPONSES, openapi_extra={"parameters": SEED_PARAMETERS},
            summary="One deterministic image per seed, cacheable, for <img src=...>")
async def seed_image(request: Request) -> Response:
    asked = SeedRequest.from_request(request.path_params, request.query_params)
    name, seed, label, truncation, version = asked.name, asked.seed, asked.label, asked.truncation, asked.version
    if_none_match = request.headers.get("if-none-match", "")
    state = serving(request)
    if version == "best":
        # `best` moves; a redirect to the pinned version keeps every cached image true to its URL
        try:
            best = state.catalog.registry.resolve(name, "best")
        except (InvalidName, VersionNotFound) as e:
            raise NotFound(str(e)) from None
        return RedirectResponse(str(request.url.include_query_params(version=best)), status_code=307,
                                headers={"Cache-Control": "no-cache"})
    found = await state.catalog.find(name, version)
    labels = seed_label(label or None, found)
    checked_truncation(truncation, found)
    index = None if labels is None else labels[0]
    provenance = Provenance.of(found, [seed], None if index is None else [found.classes[index]], truncation)
    # the precision is part of the answer's identity: bf16 pixels may differ from fp32 ones by a few levels;
    # the service's name and release are written into the image
    etag = '"' + hashlib.sha256(
        f"{found.name}/{found.version}/{found.weights_sha256}/{seed}/{index}/{truncation!r}/"
        f"{found.choices['precision']}/{imaging.PNG_ENCODING}/{SOFTWARE}".encode()
    ).hexdigest()[:32] + '"'
    headers = {
        "ETag": etag,
        # a pinned version never changes; `latest` moves when a new version lands
        "Cache-Control": "public, max-age=31536000, immutable" if version != "latest" else "public, max-age=30",
        **provenance_headers(provenance),
    }
    if if_none_match == etag:
        return Response(status_code=304, headers=headers)
    key = (found.name, found.version, found.weights_sha256, seed, index, truncation)
    png = state.seed_pngs.get(key)
    if png is None:
        [png] = await state.engine.render(found, Job(seeds=[seed], labels=labels, truncation=truncation))
        png = provenance.stamp(png)
        state.seed_pngs[key] = png
    return Response(png, media_type="image/png", headers=headers)
