"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.deps import PoolDep, QueueDep

router = APIRouter(tags=["health"])


def _serving(loaded) -> dict:
    """How the engine runs a version: precision chosen at load, and whether it shares forward passes."""
    p = loaded.prepared
    if p is None:
        return {}
    return {"precision": p.precision, "batched": p.batchable, "max_pixel_diff_vs_fp32": p.max_pixel_diff,
            "graph": p.graph, "weights_cast": p.cast_weights}


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Registry readable, Redis reachable, models loaded")
def readyz(pool: PoolDep, queue: QueueDep, request: Request) -> JSONResponse:
    root = pool.registry.root
    try:
        pool.registry.models()  # a missing writable root is fine (shipped models serve); unlistable is not
        registry_ok = True
    except OSError:
        registry_ok = False
    redis_ok = queue.ping()
    body = {
        "status": "ready" if registry_ok else "unavailable",
        "registry": {"path": str(root), "readable": registry_ok},
        "redis": {"reachable": redis_ok, "note": None if redis_ok else "generation works; /train answers 503"},
        "models_loaded": [{"model": m.name, "version": m.version} | _serving(m) for m in pool.loaded_models()],
        "device": str(pool.device),
        "dtype": str(pool.dtype).removeprefix("torch."),
        "version_notifications": _listener_state(request),
        "inference": request.app.state.batcher.describe(),
    }
    return JSONResponse(body, status_code=200 if registry_ok else 503)


def _listener_state(request: Request) -> dict[str, bool | int]:
    listener = getattr(request.app.state, "listener", None)
    if listener is None:  # turned off: hot swaps come from polling alone
        return {"enabled": False, "subscribed": False, "received": 0}
    return {"enabled": True, "subscribed": listener.subscribed.is_set(), "received": listener.received}
