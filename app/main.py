"""The FastAPI application: `uvicorn app.main:app`."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager

import torch
from cachetools import LRUCache
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from app import errors, security
from app.body_limit import BodyLimitMiddleware
from app.deps import Serving
from app.direct_route import add_routes
from app.jobs import JobQueue
from app.metrics import Metrics, RequestMiddleware
from app.notifications import VersionListener
from app.responses import PROVENANCE_HEADERS
from app.routes import (datasets, events, features, generate, health, inside, metrics, models, playground, projection,
                        quality, train, walks, watch)
from app.serving.catalog import Catalog
from app.serving.engine import Engine
from app.settings import Settings, get_settings
from models.devices import DeviceUnavailable, resolve_device
from models.logs import configure_logging

log = logging.getLogger("app")

# young objects between garbage collections (CPython: 700): a request allocates thousands, and collecting every
# 700 took a quarter of the event loop's time under load (docs/benchmarks.md, Engine)
GC_THRESHOLD = 50_000
SEED_CACHE_BYTES = 32 * 2**20  # encoded seed-URL PNGs kept: thousands of images of a small model


def tune_garbage_collector() -> None:
    """Collect rarely, and move the start-up heap (torch, FastAPI, the routes) where full collections never
    walk it."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, middle, old)


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings: Settings = app.state.settings
    try:
        device = resolve_device(settings.device)
    except DeviceUnavailable as e:  # refuse to start: a GPU replica silently on CPU would be a surprise
        raise RuntimeError(f"GAN_DEVICE: {e}") from None
    torch.set_num_threads(1)  # the API's own tensors are a few latents; its forwards run in the inference process
    engine = Engine(settings, in_process=app.state.inference_in_process)
    await engine.start()
    catalog = Catalog(settings.registry(), engine, settings.cache_size)
    catalog.start(settings.watch_interval_s)
    app.state.serving = Serving(catalog, engine, LRUCache(maxsize=SEED_CACHE_BYTES, getsizeof=len))
    app.state.listener = VersionListener(settings.redis_url,
                                         lambda landed: catalog.notice(landed.model, landed.version), catalog.poll)
    app.state.listener.start()
    app.state.queue = JobQueue(settings.redis_url, settings.queue_names, settings.job_timeout_s,
                               settings.job_retries, settings.registry_dir)
    log.info("serving registry %s on %s", settings.registry_dir, device)
    tune_garbage_collector()
    yield
    await engine.stop()
    app.state.listener.stop()
    catalog.stop()


def create_app(settings: Settings | None = None, inference_in_process: bool = False) -> FastAPI:
    """The app; `inference_in_process` runs the inference server on a thread of this process instead of a
    process of its own (tests: the same code without a second of torch's import per app)."""
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)
    telemetry = None if settings.otel else {"tracing": False, "metrics": False, "logs": False,
                                            "operation_spans": False}
    app = FastAPI(title="GAN generator service", version="0.1.0", lifespan=lifespan, telemetry=telemetry,
                  description="Trains GANs through Redis and RQ and serves their generators over HTTP. "
                              "See docs/api.md.")
    # added first, so it runs inside CORS and a browser can read its 413
    app.add_middleware(BodyLimitMiddleware)
    if settings.cors_origin_list:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list, allow_methods=["*"],
                           allow_headers=["*"], expose_headers=[*PROVENANCE_HEADERS, *inside.INSIDE_HEADERS, "ETag",
                                                                "X-Request-ID", "Retry-After"])
    app.state.settings = settings
    app.state.inference_in_process = inference_in_process
    app.state.metrics = Metrics(app.state)
    app.add_middleware(RequestMiddleware, metrics=app.state.metrics)  # outermost: sees every answer
    errors.install(app)
    security.install(app, settings)
    # the generation routes first, on the app's own router: they take most of the traffic, the router tries
    # routes in order, and an included router's routes are matched twice (app/direct_route.py)
    add_routes(app, [m.router for m in (generate, walks, features, inside, projection)],
               security.generation_guards(settings))
    for module in (health, models, quality, train, datasets, watch, events, metrics, playground):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=playground.STATIC_DIR), name="static")
    return app


app = create_app()
