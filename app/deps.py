"""Dependencies as Annotated aliases, so route signatures read like types."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.jobs import JobQueue
from app.pool import GeneratorPool
from app.settings import Settings


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _pool(request: Request) -> GeneratorPool:
    return request.app.state.pool


def _queue(request: Request) -> JobQueue:
    return request.app.state.queue


SettingsDep = Annotated[Settings, Depends(_settings)]
PoolDep = Annotated[GeneratorPool, Depends(_pool)]
QueueDep = Annotated[JobQueue, Depends(_queue)]
