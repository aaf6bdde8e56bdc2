"""What routes get from the app: dependencies as Annotated aliases, and the serving state for the hot routes.

The generation routes take `request` and read `serving(request)` instead of dependencies: FastAPI spends about
8 microseconds of the event loop on each dependency of each request, a twentieth of a served image's budget,
and with none they run on `app.direct_route.DirectRoute`, which skips FastAPI's solver (docs/benchmarks.md,
Engine). The dependencies are `async def`: FastAPI runs a plain `def` dependency in its thread pool, a thread
hop per dependency per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from cachetools import LRUCache
from fastapi import Depends, Request

from app.jobs import JobQueue
from app.security import WriteAccess
from app.serving.catalog import Catalog
from app.serving.engine import Engine
from app.settings import Settings


@dataclass(frozen=True)
class Serving:
    catalog: Catalog
    engine: Engine
    # encoded seed-URL PNGs by (model, version, weights sha256, seed, class, truncation): they never change
    seed_pngs: LRUCache


def serving(request: Request) -> Serving:
    return request.app.state.serving


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _catalog(request: Request) -> Catalog:
    return request.app.state.serving.catalog


async def _queue(request: Request) -> JobQueue:
    return request.app.state.queue


async def _writer(caller: WriteAccess) -> str | None:
    """The id of the write key the request carries (never the key), after checking it; None when keys are off."""
    return caller.key_id


SettingsDep = Annotated[Settings, Depends(_settings)]
CatalogDep = Annotated[Catalog, Depends(_catalog)]
QueueDep = Annotated[JobQueue, Depends(_queue)]
WriterDep = Annotated[str | None, Depends(_writer)]  # who changes the registry, by key id
