"""The registry as seen by clients: models, their versions and each version's metadata."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app import management
from app.deps import CatalogDep, WriterDep
from app.errors import NotFound
from app.responses import IMMUTABLE, provenance_headers, to_pinned
from app.schemas import AliasIn, ModelsOut, ModelSummary
from app.serving.catalog import Catalog
from models.architectures import get_architecture
from models.checkpoint import SAMPLES, CheckpointError, read_metadata, weights_sha256
from models.latents import prior_of
from models.names import InvalidName
from models.provenance import Provenance
from models.registry import VersionNotFound

router = APIRouter(prefix="/models", tags=["models"])


def _summary(catalog: Catalog, name: str, info: dict[str, dict[str, Any]]) -> ModelSummary | None:
    valid = [v for v, details in info.items() if details["valid"]]
    if not valid:
        return None
    latest = management.aliases(catalog, name, info)["latest"]["version"]
    meta = info[latest]["metadata"]
    return ModelSummary(name=name, latest=latest, best=catalog.registry.best(name), versions=list(info),
                        conditional=bool(meta.get("classes")), classes=meta.get("classes"),
                        latent_dim=meta["latent_dim"], latent_distribution=prior_of(meta).name, image=meta["image"],
                        architecture=meta["architecture"],
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


@router.get("/{name}", summary="Metadata of every version of a model, which are invalid, and its aliases")
def show_model(name: str, catalog: CatalogDep) -> dict[str, Any]:
    info = catalog.details(name)
    summary = _summary(catalog, name, info)
    return {**(summary.model_dump() if summary else {"name": name, "versions": list(info), "latest": None}),
            "aliases": management.aliases(catalog, name, info), "version_details": info}


@router.delete("/{name}/versions/{version}", summary="Delete a version (needs a write key)",
               responses={409: {"description": "the only valid version, the pinned one, or a shipped one"}})
def delete_version(name: str, version: str, catalog: CatalogDep, by: WriterDep, force: bool = False) -> dict[str, Any]:
    return management.delete_version(catalog, name, version, force, by)


@router.put("/{name}/aliases/{alias}", summary="Pin latest to a version (rollback) or set best by hand",
            responses={409: {"description": "the version is invalid"}})
def set_alias(name: str, alias: Literal["latest", "best"], body: AliasIn, catalog: CatalogDep,
              by: WriterDep) -> dict[str, Any]:
    return management.set_alias(catalog, name, alias, body.version, by)


@router.delete("/{name}/aliases/latest", summary="Unpin latest: the newest valid version serves again")
def unpin_latest(name: str, catalog: CatalogDep, by: WriterDep) -> dict[str, Any]:
    return management.unpin_latest(catalog, name, by)


@router.get("/{name}/versions/{version}/samples.png", summary="The sample grid published with a version")
def version_samples(name: str, version: str, catalog: CatalogDep, request: Request) -> Response:
    try:
        pinned = catalog.registry.resolve(name, version)
        if pinned != version:
            return to_pinned(request, version, pinned)
        path = catalog.registry.path(name, version) / SAMPLES
    except (InvalidName, VersionNotFound) as e:
        raise NotFound(str(e)) from None
    if not path.is_file():
        raise NotFound(f"version {version} of {name!r} has no sample grid")
    try:
        sha = weights_sha256(read_metadata(path.parent))
    except (CheckpointError, KeyError) as e:
        raise NotFound(f"version {version} of {name!r} is invalid: {e}") from None
    provenance = Provenance(name, version, sha)  # the grid of the job's fixed latents: no seeds to name
    return Response(provenance.stamp(path.read_bytes()), media_type="image/png",
                    headers={**IMMUTABLE, **provenance_headers(provenance)})
