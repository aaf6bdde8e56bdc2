"""The registry as seen by clients: models, their versions and each version's metadata."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from app.deps import PoolDep
from app.errors import NotFound
from app.schemas import ModelsOut, ModelSummary
from models import evaluations
from models.checkpoint import SAMPLES, CheckpointError, read_metadata
from models.names import InvalidName, validate_model_name
from models.registry import VersionNotFound

router = APIRouter(prefix="/models", tags=["models"])


def _version_info(pool, name: str) -> tuple[list[str], dict[str, dict[str, Any]]]:
    try:
        validate_model_name(name)
        versions = pool.registry.versions(name)
    except InvalidName as e:
        raise NotFound(str(e)) from None
    if not versions:
        raise NotFound(f"unknown model {name!r}")
    invalid = pool.invalid_versions(name)
    info: dict[str, dict[str, Any]] = {}
    for v in versions:
        try:
            metadata = read_metadata(pool.registry.path(name, v))
            # quality figures up front: scored at publish time, and full evaluations queued later
            info[v] = {"valid": v not in invalid, "metrics": metadata.get("metrics"),
                       "evaluations": evaluations.read(pool.registry.root, name, v), "metadata": metadata}
        except (CheckpointError, VersionNotFound, OSError) as e:
            info[v] = {"valid": False, "error": str(e)}
        if v in invalid:
            info[v]["error"] = invalid[v]
    return versions, info


def _summary(pool, name: str) -> ModelSummary | None:
    versions, info = _version_info(pool, name)
    valid = [v for v in versions if info[v]["valid"]]
    if not valid:
        return None
    meta = info[valid[-1]]["metadata"]
    return ModelSummary(name=name, latest=valid[-1], best=pool.registry.best(name), versions=versions,
                        conditional=bool(meta.get("classes")), classes=meta.get("classes"),
                        latent_dim=meta["latent_dim"], image=meta["image"], architecture=meta["architecture"])


@router.get("", response_model=ModelsOut, summary="Models with their versions and latest")
def list_models(pool: PoolDep) -> ModelsOut:
    summaries = []
    for name in pool.registry.models():
        try:
            summary = _summary(pool, name)
        except NotFound:
            continue
        if summary is not None:
            summaries.append(summary)
    return ModelsOut(models=summaries)


@router.get("/{name}", summary="Metadata of every version of a model, and which are invalid")
def show_model(name: str, pool: PoolDep) -> dict[str, Any]:
    versions, info = _version_info(pool, name)
    summary = _summary(pool, name)
    return {**(summary.model_dump() if summary else {"name": name, "versions": versions, "latest": None}),
            "version_details": info}


@router.get("/{name}/versions/{version}/samples.png", summary="The sample grid published with a version")
def version_samples(name: str, version: str, pool: PoolDep, request: Request) -> Response:
    try:
        validate_model_name(name)
        if version in ("best", "latest"):  # moving names redirect, so the immutable answer stays true
            pinned = pool.registry.best(name) if version == "best" else pool.registry.latest(name)
            if pinned is None:
                raise NotFound(f"model {name!r} has no {version!r} version")
            return RedirectResponse(str(request.url).replace(f"/versions/{version}/", f"/versions/{pinned}/"),
                                    status_code=307, headers={"Cache-Control": "no-cache"})
        path = pool.registry.path(name, version) / SAMPLES
    except (InvalidName, VersionNotFound) as e:
        raise NotFound(str(e)) from None
    if not path.is_file():
        raise NotFound(f"version {version} of {name!r} has no sample grid")
    return FileResponse(path, media_type="image/png",
                        headers={"Cache-Control": "public, max-age=31536000, immutable"})
