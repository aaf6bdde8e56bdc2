"""See inside a version's networks: the filters nearest the image in the generator and the discriminator, and
one generator layer's activations for one latent, drawn by the inference process (models/inspection.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from app.deps import serving
from app.direct_route import DirectRoute
from app.errors import NotFound
from app.responses import IMMUTABLE, provenance_headers, to_pinned
from app.schemas import VisualizeOut, VisualizeRequest
from app.serving.encoding import base64_pngs
from app.serving.inputs import checked_latents, one_label
from models.names import InvalidName
from models.provenance import Provenance
from models.registry import VersionNotFound

router = APIRouter(tags=["inside"], route_class=DirectRoute)

PNG = {200: {"content": {"image/png": {}}}}
# what the pictures show, beside the provenance headers every image answer carries
INSIDE_HEADERS = ("X-Panels", "X-Generator-Filters", "X-Discriminator-Filters", "X-Discriminator", "X-Layer",
                  "X-Layers", "X-Channels", "X-Channels-Shown", "X-Map-Scale")


@router.get("/models/{name}/versions/{version}/filters.png", responses=PNG,
            summary="First-layer filters of the generator (its image side) and of the discriminator, tiled")
async def filters(name: str, version: str, request: Request) -> Response:
    state = serving(request)
    try:
        pinned = await run_in_threadpool(state.catalog.registry.resolve, name, version)
    except (InvalidName, VersionNotFound) as e:
        raise NotFound(str(e)) from None
    if pinned != version:
        return to_pinned(request, version, pinned)
    found = await state.catalog.find(name, pinned)
    facts, png = await state.engine.look("filters", found)
    panels = facts["panels"]
    headers = {**IMMUTABLE, "X-Panels": ",".join(panels),
               **{f"X-{role.title()}-Filters": f"{p['shown']} of {p['total']}" for role, p in panels.items()}}
    if "discriminator" not in panels:
        headers["X-Discriminator"] = "absent: this version was published without its discriminator"
    provenance = Provenance.of(found)  # weights, no seeds: the picture is of the weights themselves
    headers.update(provenance_headers(provenance))
    return Response(provenance.stamp(png), media_type="image/png", headers=headers)


@router.post("/visualize", response_model=VisualizeOut, responses=PNG,
             summary="One generator layer's activations for one latent, as a grid of maps, and the layers offered")
async def visualize(body: VisualizeRequest, request: Request) -> Response:
    state = serving(request)
    version = await state.catalog.find(body.model, body.version)
    label = one_label(body.label, version)
    labels = None if label is None else [label]
    latent = None if body.latent is None else checked_latents([body.latent], version, "latent")[0].tolist()
    facts, png = await state.engine.look("activations", version, {
        "layer": body.layer, "seed": body.seed, "latent": latent, "label": None if labels is None else labels[0]})
    provenance = Provenance.of(version, None if body.seed is None else [body.seed],
                               None if labels is None else [version.classes[labels[0]]])
    png = provenance.stamp(png)
    headers = {"X-Layer": facts["layer"], "X-Layers": ",".join(layer["name"] for layer in facts["layers"]),
               "X-Channels": str(facts["channels"]), "X-Channels-Shown": str(facts["shown"]),
               "X-Map-Scale": str(facts["scale"]), **provenance_headers(provenance)}
    if body.format == "png":
        return Response(png, media_type="image/png", headers=headers)
    answer = {"model": version.name, "version": version.version, "layer": facts["layer"], "layers": facts["layers"],
              "channels": facts["channels"], "shown": facts["shown"], "scale": facts["scale"],
              "png_base64": base64_pngs([png])[0]}
    return JSONResponse(answer, headers=headers)
