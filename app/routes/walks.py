"""Latent-space exploration: walks between two points and DCGAN-style vector arithmetic."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.deps import serving
from app.direct_route import DirectRoute
from app.responses import provenance_headers
from app.schemas import ArithmeticRequest, InterpolateRequest
from app.serving.encoding import MEDIA, base64_pngs
from app.serving.inputs import arithmetic_inputs, checked_truncation, label_name, walk_inputs
from app.serving.job import Job
from models.provenance import Provenance

router = APIRouter(tags=["exploration"], route_class=DirectRoute)


@router.post("/interpolate", responses={200: {"content": {m: {} for m in MEDIA.values()}}},
             summary="Walk the latent space from a start to an end (slerp or lerp)")
async def interpolate(body: InterpolateRequest, request: Request) -> Response:
    state = serving(request)
    engine, catalog = state.engine, state.catalog
    version = await catalog.find(body.model, body.version)
    latents, labels = walk_inputs(version, body.start, body.end, body.steps, body.method)
    output = {"json": "pngs"}.get(body.format, body.format)
    truncation = checked_truncation(body.truncation, version)
    # png: one strip, start to end
    parts = await engine.render(version, Job(latents=latents, labels=labels, truncation=truncation,
                                             output=output, columns=body.steps))
    ends = (body.start, body.end)
    provenance = Provenance.of(version, [end.seed for end in ends],
                               [label_name(end.label, version) for end in ends] if labels is not None else None,
                               truncation)
    if body.format == "json":
        frames = base64_pngs([provenance.stamp(part) for part in parts])
        return JSONResponse({"model": version.name, "version": version.version, "frames": frames},
                            headers=provenance_headers(provenance))
    media_type = MEDIA[body.format]
    return Response(provenance.stamp(parts[0], media_type), media_type=media_type,
                    headers=provenance_headers(provenance))


@router.post("/arithmetic", responses={200: {"content": {"image/png": {}}}},
             summary="Vector arithmetic on mean latents of groups, e.g. A - B + C")
async def arithmetic(body: ArithmeticRequest, request: Request) -> Response:
    state = serving(request)
    engine, catalog = state.engine, state.catalog
    version = await catalog.find(body.model, body.version)
    latents, labels, result, terms = arithmetic_inputs(version, body)
    # png: one row, each term's mean image, then the result, then its variations
    output = "pngs" if body.format == "json" else "png"
    parts = await engine.render(version, Job(latents=latents, labels=labels, output=output, columns=len(latents)))
    # seeds by term (null for a term given by latents); labels by image of the row
    provenance = Provenance.of(version, [term.seeds for term in body.terms],
                               None if labels is None else [version.classes[i] for i in labels])
    if body.format == "json":
        pngs = base64_pngs([provenance.stamp(part) for part in parts])
        return JSONResponse({"model": version.name, "version": version.version, "terms": pngs[:terms],
                             "result": pngs[terms], "variations": pngs[terms + 1:],
                             "result_latent": result.tolist()}, headers=provenance_headers(provenance))
    return Response(provenance.stamp(parts[0]), media_type="image/png", headers=provenance_headers(provenance))
