"""Generation: POST /generate and the cacheable seed URLs for <img src>."""

from __future__ import annotations

import hashlib
from typing import Annotated

import torch
from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import JSONResponse, Response

from app.deps import PoolDep, SettingsDep
from app.errors import InvalidRequest, NotFound
from app.generation import class_name, latents_for, png_b64, random_seeds, render, resolve_labels
from app.pool import GeneratorPool, LoadedModel, ModelUnavailable
from app.responses import model_headers, png_response
from app.security import Expensive, ReadAccess
from app.schemas import GenerateRequest, ImageOut, ImagesOut

router = APIRouter(tags=["generation"])

IMAGE_RESPONSES = {200: {"content": {"image/png": {}}, "description": "the image, or a grid of several"}}


def get_model(pool: GeneratorPool, model: str, version: str) -> LoadedModel:
    try:
        return pool.get(model, version)
    except ModelUnavailable as e:
        raise NotFound(str(e)) from None


@router.post("/generate", response_model=ImagesOut, responses=IMAGE_RESPONSES,
             summary="Generate images from latents, seeds or a count, with class labels for conditional models")
def generate(body: GenerateRequest, pool: PoolDep, settings: SettingsDep, _key: ReadAccess,
             _rate: Expensive) -> Response:
    count = body.n or len(body.latents or body.seeds or [])
    if count > settings.max_images:
        field = "n" if body.n else ("latents" if body.latents else "seeds")
        raise InvalidRequest(field, f"{count} images asked for; at most {settings.max_images} per request")
    loaded = get_model(pool, body.model, body.version)
    seeds = random_seeds(body.n) if body.n else body.seeds
    latents = latents_for(loaded, body.latents, seeds if body.latents is None else None, "latents")
    labels = resolve_labels(body.labels, count, loaded)
    images = render(loaded, latents, labels, body.truncation)
    if body.format == "png":
        headers = {"X-Seeds": ",".join(map(str, seeds))} if seeds else {}
        return png_response(loaded, images, extra_headers=headers)
    out = ImagesOut(model=loaded.name, version=loaded.version, images=[
        ImageOut(png_base64=png_b64(image), seed=seeds[i] if seeds else None,
                 label=class_name(loaded, None if labels is None else int(labels[i])))
        for i, image in enumerate(images)])
    return JSONResponse(out.model_dump(), headers=model_headers(loaded))


@router.get("/models/{name}/seeds/{seed}.png", responses=IMAGE_RESPONSES,
            summary="One deterministic image per seed, cacheable, for <img src=...>")
def seed_image(
    name: str,
    seed: Annotated[int, Path(ge=0, lt=2**63)],
    pool: PoolDep,
    _key: ReadAccess,
    _rate: Expensive,
    label: Annotated[str | None, Query(max_length=200, description="class name or index")] = None,
    truncation: Annotated[float, Query(gt=0, le=2)] = 1.0,
    version: Annotated[str, Query(max_length=32)] = "latest",
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    loaded = get_model(pool, name, version)
    parsed: list[int | str] | None = None
    if label is not None:
        parsed = [int(label)] if label.isdigit() else [label]
    labels = resolve_labels(parsed, 1, loaded, "label")
    etag = '"' + hashlib.sha256(
        f"{loaded.name}/{loaded.version}/{seed}/{None if labels is None else int(labels[0])}/{truncation!r}".encode()
    ).hexdigest()[:32] + '"'
    pinned = version not in ("latest", "best")
    headers = {
        "ETag": etag,
        # a pinned version never changes; `latest` moves when a new version lands
        "Cache-Control": "public, max-age=31536000, immutable" if pinned else "public, max-age=30",
    }
    if if_none_match == etag:
        return Response(status_code=304, headers=headers | model_headers(loaded))
    images = render(loaded, torch.stack([latents_for(loaded, None, [seed], "seed")[0]]), labels, truncation)
    return png_response(loaded, images, extra_headers=headers)
