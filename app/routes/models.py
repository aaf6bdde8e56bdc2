"""The registry as seen by clients: models, their versions and each version's metadata."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from app.deps import CatalogDep
from app.errors import NotFound
from app.schemas import ModelsOut, ModelSummary
from app.serving.catalog import Catalog
from models.architectures import get_architecture
from models.checkpoint import SAMPLES
from models.names import InvalidName
from models.registry import VersionNotFound

router = APIRouter(prefix="/models", tags=["models"])


def _summary(catalog: Catalog, name: str, info: dict[str, dict[str, Any]]) -> ModelSummary | None:
    valid = [v for v, details in info.items() if details["valid"]]
    if not valid:
        return None
    meta = info[valid[-1]]["metadata"]
    return ModelSummary(name=name, latest=valid[-1], best=catalog.registry.best(name), versions=list(info),
                        conditional=bool(meta.get("classes")), classes=meta.get("classes"),
                        latent_dim=meta["latent_dim"], image=meta["image"], architecture=meta["architecture"],
                        truncates=get_architecture(meta["architecture"]).truncates)


@router.get("", response_model=ModelsOut, summary="Models with their versions and latest")
def list_models(catalog: CatalogDep) -> ModelsOut:
    summaries = []
    for name in catalog.registry.models():
        try:
            summary = _summary(catalog, name, catalog.details(name))
        except NotFound:
            continue
        if summary is not None:
            summaries.append(summary)
    return ModelsOut(models=summaries)


@router.get("/{name}", summary="Metadata of every version of a model, and which are invalid")
def show_model(name: str, catalog: CatalogDep) -> dict[str, Any]:
    info = catalog.details(name)
    summary = _summary(catalog, name, info)
    return {**(summary.model_dump() if summary else {"name": name, "versions": list(info), "latest": None}),
            "version_details": info}


@router.get("/{name}/versions/{version}/samples.png", summary="The sample grid published with a version")
def version_samples(name: str, version: str, catalog: CatalogDep, request: Request) -> Response:
    try:
        pinned = catalog.registry.resolve(name, version)
        if pinned != version:  # a moving name (or another spelling) redirects, so the immutable answer stays true
            return RedirectResponse(str(request.url).replace(f"/versions/{version}/", f"/versions/{pinned}/"),
                                    status_code=307, headers={"Cache-Control": "no-cache"})
        path = catalog.registry.path(name, version) / SAMPLES
    except (InvalidName, VersionNotFound) as e:
        raise NotFound(str(e)) from None
    if not path.is_file():
        raise NotFound(f"version {version} of {name!r} has no sample grid")
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "public, max-age=31536000, immutable"})
