"""Checks shared by the routes that enqueue jobs: the queue asked for, and the concrete version a job will use."""

from __future__ import annotations

from typing import Any

from app.errors import InvalidRequest, NotFound
from models.checkpoint import CheckpointError, read_metadata
from models.names import InvalidName
from models.registry import Registry, VersionNotFound


def check_queue(name: str | None, settings) -> str:
    if name is None:
        return settings.queue_names[0]
    if name not in settings.queue_names:
        raise InvalidRequest("queue", f"unknown queue {name!r}; valid: {', '.join(settings.queue_names)}")
    return name


def pinned_version(registry: Registry, model: str, version: str) -> tuple[str, dict[str, Any]]:
    """The concrete version `version` names and its metadata, pinned when the job is enqueued so that a newer
    `latest` cannot change what it makes; 404 for an unknown or unreadable one."""
    try:
        pinned = registry.resolve(model, version)
        return pinned, read_metadata(registry.path(model, pinned))
    except (InvalidName, VersionNotFound) as e:
        raise NotFound(str(e)) from None
    except CheckpointError as e:
        raise NotFound(f"version {version} of {model!r} cannot be read: {e}") from None
