"""The FastAPI application: `uvicorn app.main:app`."""

from __future__ import annotations

import gc
import logging
import sys
from contextlib import asynccontextmanager

import torch
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from app import errors, security
from app.batcher import MicroBatcher
from app.body_limit import BodyLimitMiddleware
from app.inference import preparer, serving_device
from app.jobs import JobQueue
from app.metrics import Metrics, RequestMiddleware
from app.notifications import VersionListener
from app.process_engine import ProcessEngine
from app.pool import GeneratorPool
from app.routes import (events, generate, health, metrics, models, playground, quality, seed_lane, train, walks,
                        watch)
from app.seed_cache import SeedImageCache
from app.settings import Settings, get_settings
from models.logs import configure_logging

log = logging.getLogger("app")


def share_the_interpreter_lock(interval_ms: float) -> None:
    """The event loop runs Python almost without pause under load, and the inference thread needs Python's lock
    back after each forward (and an eager forward after each operator): with CPython's 5 ms switch interval,
    each of those waits could take 5 ms. A shorter interval bounds them; a forced switch costs microseconds."""
    if interval_ms > 0:
        sys.setswitchinterval(interval_ms / 1000)


def tune_garbage_collector(threshold: int) -> None:
    """A request allocates a few thousand short-lived objects (FastAPI's dependency and validation machinery),
    so CPython's default of a collection every 700 allocations took a quarter of the event loop's time under
    load (py-spy). Collections happen rarer, and the startup heap (torch, FastAPI, the models loaded so far)
    moves to the permanent generation where full collections no longer walk it."""
    if threshold:
        gc.collect()
        gc.freeze()
        _, middle, old = gc.get_threshold()
        gc.set_threshold(threshold, middle, old)


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings: Settings = app.state.settings
    torch.set_num_threads(settings.torch_thread_count(reserved_cores=1))
    device, dtype = serving_device(settings)

    if settings.inference_process:
        engine = ProcessEngine(settings, settings.batch_max_images, settings.batching)
        await engine.start()
        prepare = engine.prepare_there  # the process prepares the versions it runs
    else:
        engine = MicroBatcher(settings.batch_max_images, settings.batching)
        engine.start()
        prepare = preparer(settings.precision_for, settings.precision_tolerance, settings.channels_last,
                           settings.inference_graph)
    app.state.batcher = engine
    pool = GeneratorPool(settings.registry(),
                         device, settings.cache_size, dtype, prepare=prepare, keep_generators=False)
    pool.start(settings.watch_interval_s)
    app.state.pool = pool
    app.state.seed_cache = SeedImageCache(int(settings.seed_cache_mb * 2**20))
    app.state.listener = None
    if settings.version_notifications:
        app.state.listener = VersionListener(settings.redis_url,
                                             lambda landed: pool.notice(landed.model, landed.version), pool.poll)
        app.state.listener.start()
    app.state.queue = JobQueue(settings.redis_url, settings.queue_names[0], settings.job_timeout_s, settings.job_retries,
                               settings.queue_names)
    log.info("serving registry %s on %s (%s first)", settings.registry_dir, pool.device, dtype)
    tune_garbage_collector(settings.gc_threshold)
    share_the_interpreter_lock(settings.switch_interval_ms)
    yield
    if settings.inference_process:
        await engine.stop()
    else:
        engine.stop()
    if app.state.listener is not None:
        app.state.listener.stop()
    pool.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)
    telemetry = None if settings.otel else {"tracing": False, "metrics": False, "logs": False,
                                            "operation_spans": False}
    app = FastAPI(title="GAN generator service", version="0.1.0", lifespan=lifespan, telemetry=telemetry,
                  description="Trains GANs through Redis and RQ and serves their generators over HTTP. "
                              "See docs/api.md.")
    # added first, so it runs inside CORS and a browser can read its 413
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origin_list:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list, allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["X-Model", "X-Model-Version", "X-Seeds", "ETag", "X-Request-ID", "Retry-After"])
    app.state.settings = settings
    app.state.metrics = Metrics(app.state)
    app.add_middleware(RequestMiddleware, metrics=app.state.metrics)  # outermost: sees every answer
    errors.install(app)
    security.install(app, settings)
    for module in (health, models, quality, generate, walks, train, watch, events, metrics, playground):
        app.include_router(module.router)
    seed_lane.install(app, generate.router)
    app.mount("/static", StaticFiles(directory=playground.STATIC_DIR), name="static")
    return app


app = create_app()
