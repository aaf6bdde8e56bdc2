"""Quality over HTTP: the FD/KID chart of a model and full evaluations queued as jobs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response

from app.deps import CatalogDep, QueueDep
from app.errors import NotFound
from app.plots import plot_quality
from app.schemas import EvaluateRequest, JobAccepted
from app.security import Expensive, WriteAccess
from models.names import InvalidName
from models.registry import VersionNotFound

router = APIRouter(prefix="/models", tags=["quality"])


def _comparable_series(info: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Scored versions sharing the newest one's extractor and N: figures at another N do not compare."""
    scored = [(v, d["metadata"]["metrics"]) for v, d in info.items()
              if d.get("metadata", {}).get("metrics", {}) and d["metadata"]["metrics"].get("fd") is not None]
    if not scored:
        return [], None
    newest = scored[-1][1]
    series = [{"version": v, "step": info[v]["metadata"].get("step", 0), **m} for v, m in scored
              if m.get("extractor") == newest.get("extractor") and m.get("n") == newest.get("n")]
    return series, newest


@router.get("/{name}/metrics.png", responses={200: {"content": {"image/png": {}}}},
            summary="FD and KID of each scored version against its training step")
def metrics_png(name: str, catalog: CatalogDep) -> Response:
    series, newest = _comparable_series(catalog.details(name))
    best = catalog.registry.best(name)
    best_step = next((p["step"] for p in series if p["version"] == best), None)
    png = plot_quality(name, [(p["step"], p["fd"]) for p in series],
                       [(p["step"], p["kid"]) for p in series if p.get("kid") is not None],
                       newest and newest.get("n"), newest and newest.get("extractor"), best_step)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-cache"})


@router.post("/{name}/versions/{version}/evaluate", status_code=202, response_model=JobAccepted,
             summary="Queue a full evaluation (N = 10,000 by default) of one version")
def evaluate(name: str, version: str, queue: QueueDep, catalog: CatalogDep, request: Request, caller: WriteAccess,
             _rate: Expensive, body: Annotated[EvaluateRequest | None, Body()] = None) -> JSONResponse:
    try:
        pinned = catalog.registry.resolve(name, version)
    except (InvalidName, VersionNotFound) as e:
        raise NotFound(str(e)) from None
    job_id = queue.submit_evaluation(name, pinned, (body or EvaluateRequest()).n, owner=caller.key_id)
    url = str(request.url_for("job_status", job_id=job_id))
    return JSONResponse(JobAccepted(id=job_id, status="queued", status_url=url).model_dump(),
                        status_code=202, headers={"Location": url})
