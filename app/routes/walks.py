"""Latent-space exploration: walks between two points and DCGAN-style vector arithmetic."""

from __future__ import annotations

import torch
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from app.deps import BatcherDep, PoolDep, SettingsDep
from app.errors import InvalidRequest
from app.generation import interpolation_latents, latents_for, png_b64, render_batched, resolve_labels
from app.responses import MEDIA, animation_response, model_headers, png_response
from app.routes.generate import model_for
from app.security import Expensive, ReadAccess
from app.schemas import ArithmeticRequest, InterpolateRequest

router = APIRouter(tags=["exploration"])


@router.post("/interpolate", responses={200: {"content": {m: {} for m in MEDIA.values()}}},
             summary="Walk the latent space from a start to an end (slerp or lerp)")
async def interpolate(body: InterpolateRequest, pool: PoolDep, settings: SettingsDep, batcher: BatcherDep,
                      _key: ReadAccess, _rate: Expensive) -> Response:
    if body.steps > settings.max_interpolation_steps:
        raise InvalidRequest("steps", f"at most {settings.max_interpolation_steps} steps")
    loaded = await model_for(pool, body.model, body.version)
    latents, labels = interpolation_latents(loaded, body.start, body.end, body.steps, body.method)
    frames = await render_batched(batcher, loaded, latents, labels, body.truncation)
    # encoding (PNG strips, GIF and WebP animations) runs in the thread pool, off the event loop
    if body.format == "json":
        return await run_in_threadpool(lambda: JSONResponse(
            {"model": loaded.name, "version": loaded.version, "frames": [png_b64(f) for f in frames]},
            headers=model_headers(loaded)))
    if body.format == "png":
        return await run_in_threadpool(png_response, loaded, frames, len(frames))  # one strip, start to end
    return await run_in_threadpool(animation_response, loaded, frames, body.format)


@router.post("/arithmetic", responses={200: {"content": {"image/png": {}}}},
             summary="Vector arithmetic on mean latents of groups, e.g. A - B + C")
async def arithmetic(body: ArithmeticRequest, pool: PoolDep, settings: SettingsDep, batcher: BatcherDep,
                     _key: ReadAccess, _rate: Expensive) -> Response:
    if len(body.terms) > settings.max_arithmetic_terms:
        raise InvalidRequest("terms", f"at most {settings.max_arithmetic_terms} terms")
    if body.variations > settings.max_variations:
        raise InvalidRequest("variations", f"at most {settings.max_variations} variations")
    loaded = await model_for(pool, body.model, body.version)
    means, term_labels = [], []
    for i, term in enumerate(body.terms):
        group = term.seeds or term.latents
        if len(group) > settings.max_group_size:
            raise InvalidRequest(f"terms.{i}", f"at most {settings.max_group_size} seeds or latents per term")
        means.append(latents_for(loaded, term.latents, term.seeds, f"terms.{i}.latents").mean(0))
        term_labels.append(resolve_labels(None if term.label is None else [term.label], 1, loaded,
                                          f"terms.{i}.label"))
    result = sum(t.weight * m for t, m in zip(body.terms, means))
    # the paper adds uniform noise of +-0.25 to the result to show it is a region, not a point
    noise = torch.rand(body.variations, loaded.latent_dim, generator=torch.Generator().manual_seed(body.seed))
    variations = result + (noise * 2 - 1) * body.variation_scale
    if body.label is not None:
        result_label = resolve_labels([body.label], 1, loaded, "label")
    else:
        positive = [y for t, y in zip(body.terms, term_labels) if t.weight > 0] or term_labels
        result_label = positive[-1]
    latents = torch.cat([torch.stack(means), result[None], variations])
    labels = None
    if loaded.conditional:
        labels = torch.cat([*term_labels, result_label.expand(1 + body.variations)])
    images = await render_batched(batcher, loaded, latents, labels)
    if body.format == "json":
        n = len(means)
        return await run_in_threadpool(lambda: JSONResponse(
            {"model": loaded.name, "version": loaded.version, "terms": [png_b64(i) for i in images[:n]],
             "result": png_b64(images[n]), "variations": [png_b64(i) for i in images[n + 1:]],
             "result_latent": result.tolist()}, headers=model_headers(loaded)))
    # one row: each term's mean image, then the result, then its variations
    return await run_in_threadpool(png_response, loaded, images, len(images))
