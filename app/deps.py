"""Dependencies as Annotated aliases, so route signatures read like types.

They are `async def`: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per dependency
per request that cost more than the rest of a seed-URL request (bench/serve.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.engine import Engine
from app.jobs import JobQueue
from app.pool import GeneratorPool
from app.seed_cache import SeedImageCache
from app.settings import Settings


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _pool(request: Request) -> GeneratorPool:
    return request.app.state.pool


async def _queue(request: Request) -> JobQueue:
    return request.app.state.queue


async def _batcher(request: Request) -> Engine:
    return request.app.state.batcher


async def _seed_cache(request: Request) -> SeedImageCache:
    return request.app.state.seed_cache


SettingsDep = Annotated[Settings, Depends(_settings)]
PoolDep = Annotated[GeneratorPool, Depends(_pool)]
QueueDep = Annotated[JobQueue, Depends(_queue)]
BatcherDep = Annotated[Engine, Depends(_batcher)]
SeedCacheDep = Annotated[SeedImageCache, Depends(_seed_cache)]
