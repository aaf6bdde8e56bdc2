"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.deps import QueueDep, SettingsDep, serving

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Registry readable, Redis reachable, models loaded")
def readyz(queue: QueueDep, settings: SettingsDep, request: Request) -> JSONResponse:
    state = serving(request)
    try:
        state.catalog.registry.models()  # a missing writable root is fine (shipped models serve); unlistable is not
        registry_ok = True
    except OSError:
        registry_ok = False
    redis_ok = queue.ping()
    listener = request.app.state.listener
    body = {
        "status": "ready" if registry_ok else "unavailable",
        "registry": {"path": str(settings.registry_dir), "readable": registry_ok},
        "redis": {"reachable": redis_ok, "note": None if redis_ok else "generation works; /train answers 503"},
        # how the inference process runs each version: the precision and batching its probes chose
        "models_loaded": [{"model": v.name, "version": v.version, "precision": v.choices["precision"],
                           "batched": v.batchable, "max_pixel_diff_vs_fp32": v.choices["max_pixel_diff"],
                           "graph": v.choices["graph"], "weights_cast": v.choices["cast_weights"]}
                          for v in state.catalog.loaded()],
        "device": settings.device,
        "version_notifications": {"subscribed": listener.subscribed.is_set(), "received": listener.received},
        "inference": state.engine.describe(),
        "rate_limits": request.app.state.rate_limit.describe(),
    }
    return JSONResponse(body, status_code=200 if registry_ok else 503)
