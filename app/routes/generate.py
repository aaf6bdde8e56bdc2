"""Generation: POST /generate and the cacheable seed URLs for <img src>."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from app.engine import Engine
from app.deps import BatcherDep, PoolDep, SeedCacheDep, SettingsDep
from app.errors import InvalidRequest, NotFound
from app.generation import (class_name, latents_for, png_b64, random_seeds, render_batched, render_png, seed_label,
                            resolve_labels)
from app.pool import GeneratorPool, LoadedModel, ModelUnavailable
from app.responses import model_headers, png_response
from app.security import Expensive, ReadAccess
from app.seed_cache import SeedImageCache
from app.schemas import GenerateRequest, ImageOut, ImagesOut
from models import images as imaging
from models.names import InvalidName

router = APIRouter(tags=["generation"])

IMAGE_RESPONSES = {200: {"content": {"image/png": {}}, "description": "the image, or a grid of several"}}


def get_model(pool: GeneratorPool, model: str, version: str) -> LoadedModel:
    try:
        return pool.get(model, version)
    except ModelUnavailable as e:
        raise NotFound(str(e)) from None


async def model_for(pool: GeneratorPool, model: str, version: str) -> LoadedModel:
    """The loaded model; a load (file reads, a forward probe) runs off the event loop."""
    return pool.peek(model, version) or await run_in_threadpool(get_model, pool, model, version)


def _seed_header(seeds: list[int] | None) -> dict[str, str]:
    return {"X-Seeds": ",".join(map(str, seeds))} if seeds else {}


def _json_images(loaded: LoadedModel, images, seeds, labels) -> JSONResponse:
    out = ImagesOut(model=loaded.name, version=loaded.version, images=[
        ImageOut(png_base64=png_b64(image), seed=seeds[i] if seeds else None,
                 label=class_name(loaded, None if labels is None else int(labels[i])))
        for i, image in enumerate(images)])
    return JSONResponse(out.model_dump(), headers=model_headers(loaded))


@router.post("/generate", response_model=ImagesOut, responses=IMAGE_RESPONSES,
             summary="Generate images from latents, seeds or a count, with class labels for conditional models")
async def generate(body: GenerateRequest, pool: PoolDep, settings: SettingsDep, batcher: BatcherDep,
                   _key: ReadAccess, _rate: Expensive) -> Response:
    count = body.n or len(body.latents or body.seeds or [])
    if count > settings.max_images:
        field = "n" if body.n else ("latents" if body.latents else "seeds")
        raise InvalidRequest(field, f"{count} images asked for; at most {settings.max_images} per request")
    loaded = await model_for(pool, body.model, body.version)
    seeds = random_seeds(body.n) if body.n else body.seeds
    latents = latents_for(loaded, body.latents, seeds if body.latents is None else None, "latents")
    labels = resolve_labels(body.labels, count, loaded)
    if body.format == "png" and count == 1:
        png = await render_png(batcher, loaded, latents, labels, body.truncation)
        return Response(png, media_type="image/png", headers=model_headers(loaded) | _seed_header(seeds))
    images = await render_batched(batcher, loaded, latents, labels, body.truncation)
    # encoding runs in the thread pool: a grid of 64 takes milliseconds the event loop must not lose
    if body.format == "png":
        return await run_in_threadpool(png_response, loaded, images, None, _seed_header(seeds))
    return await run_in_threadpool(_json_images, loaded, images, seeds, labels)


SEED_PATH = "/models/{name}/seeds/{seed}.png"


@router.get(SEED_PATH, responses=IMAGE_RESPONSES,
            summary="One deterministic image per seed, cacheable, for <img src=...>")
async def seed_image(
    name: str,
    seed: Annotated[int, Path(ge=0, lt=2**63)],
    pool: PoolDep,
    request: Request,
    batcher: BatcherDep,
    cache: SeedCacheDep,
    _key: ReadAccess,
    _rate: Expensive,
    label: Annotated[str | None, Query(max_length=200, description="class name or index")] = None,
    truncation: Annotated[float, Query(gt=0, le=2)] = 1.0,
    version: Annotated[str, Query(max_length=32)] = "latest",
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    if version == "best":
        # `best` moves; a redirect to the pinned version keeps every cached image true to its URL
        try:
            best = pool.registry.best(name)
        except InvalidName as e:
            raise NotFound(str(e)) from None
        if best is None:
            raise NotFound(f"model {name!r} has no 'best' version yet")
        return RedirectResponse(str(request.url.include_query_params(version=best)), status_code=307,
                                headers={"Cache-Control": "no-cache"})
    return await seed_answer(pool, batcher, cache, name, seed, label, truncation, version, if_none_match)


async def seed_answer(pool: GeneratorPool, batcher: Engine, cache: SeedImageCache, name: str, seed: int,
                      label: str | None, truncation: float, version: str, if_none_match: str | None) -> Response:
    """A seed URL's answer once its parameters are valid: shared by the route and its fast lane."""
    loaded = await model_for(pool, name, version)
    index = seed_label(label, loaded)
    # the precision is part of the answer's identity: bf16 pixels may differ from fp32 ones by a few levels
    precision = loaded.prepared.precision if loaded.prepared is not None else "fp32"
    etag = '"' + hashlib.sha256(
        f"{loaded.name}/{loaded.version}/{seed}/{index}/{truncation!r}/"
        f"{precision}/{imaging.PNG_ENCODING}".encode()
    ).hexdigest()[:32] + '"'
    pinned = version not in ("latest", "best")
    headers = {
        "ETag": etag,
        # a pinned version never changes; `latest` moves when a new version lands
        "Cache-Control": "public, max-age=31536000, immutable" if pinned else "public, max-age=30",
    }
    if if_none_match == etag:
        return Response(status_code=304, headers=headers | model_headers(loaded))
    key = (loaded.name, loaded.version, seed, index, truncation)
    png = cache.get(key)
    if png is None:
        png = await batcher.render_seed_png(loaded, seed, index, truncation)
        cache.put(key, png)
    return Response(png, media_type="image/png", headers=headers | model_headers(loaded))
