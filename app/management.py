"""Changes to the registry through the API: deleting versions, pinning `latest` (a rollback) and setting `best`
by hand, with the rules that keep a model servable, and a record of which key made each change.

A key is recorded by its id, the first 12 hex digits of its sha256: enough to tell the configured keys apart,
and nothing a reader could use in its place.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import HTTPException

from app.errors import InvalidRequest, NotFound
from app.serving.catalog import Catalog
from models.names import ALIASES, InvalidName, validate_model_name
from models.registry import BEST_POINTER, PINNED_LATEST, VersionNotFound

log = logging.getLogger(__name__)


def _conflict(message: str) -> HTTPException:
    return HTTPException(409, message)


def _known(catalog: Catalog, model: str) -> None:
    try:
        if catalog.registry.versions(validate_model_name(model)):
            return
    except InvalidName as e:
        raise NotFound(str(e)) from None
    raise NotFound(f"unknown model {model!r}")


def _numbered(catalog: Catalog, model: str, version: str, field: str) -> str:
    """The version a management call names, by its number: an alias would move under the caller."""
    _known(catalog, model)
    if version in ALIASES:
        raise InvalidRequest(field, f"name the version by its number, not {version!r}: "
                                    f"versions of {model!r}: {', '.join(catalog.registry.versions(model))}")
    try:
        return catalog.registry.resolve(model, version)
    except (InvalidName, VersionNotFound) as e:
        raise NotFound(str(e)) from None


def _valid_versions(catalog: Catalog, model: str) -> dict[str, dict[str, Any]]:
    return {v: d for v, d in catalog.details(model).items() if d["valid"]}


def delete_version(catalog: Catalog, model: str, version: str, force: bool, by: str | None) -> dict[str, Any]:
    """Delete one version. Refused (409) without `force` when it is the only valid version, which would leave
    the model nothing to serve, or the version `latest` is pinned to; a pin or `best` on it goes with it."""
    registry = catalog.registry
    version = _numbered(catalog, model, version, "version")
    pinned = registry.pinned_latest(model) == version
    if not force:
        if list(_valid_versions(catalog, model)) == [version]:
            raise _conflict(f"version {version} is the only valid version of {model!r}, and it is served: deleting "
                            "it leaves nothing to serve. Add ?force=true to delete it anyway")
        if pinned:
            raise _conflict(f"latest of {model!r} is pinned to version {version}: unpin it first "
                            f"(DELETE /models/{model}/aliases/latest), or add ?force=true")
    try:
        registry.delete(model, version)
    except PermissionError as e:
        raise _conflict(str(e)) from None
    except VersionNotFound as e:  # another request deleted it meanwhile
        raise NotFound(str(e)) from None
    if pinned:
        registry.unpin_latest(model)
    if registry.best(model) == version:
        registry.delete_record(model, BEST_POINTER)
    catalog.check(model)  # this replica stops serving it now; the others at their next registry poll
    log.info("deleted %s version %s (key %s)", model, version, by, extra={"model": model, "version": version})
    return {"model": model, "deleted": version, "by": by}


def set_alias(catalog: Catalog, model: str, alias: str, version: str, by: str | None) -> dict[str, Any]:
    """Pin `latest` to a version, or set `best` by hand. Only a version that loads and keeps the model's
    interface may be named (409 otherwise)."""
    version = _numbered(catalog, model, version, "version")
    try:
        catalog.get(model, version)  # loaded now, so that a broken one is found before anything points at it
    except NotFound as e:
        raise _conflict(f"version {version} of {model!r} cannot be {alias}: {e}") from None
    if alias == "latest":
        catalog.registry.pin_latest(model, version, by)
        catalog.check(model)
    else:
        catalog.registry.set_best(model, version, set_by=by)
    log.info("%s of %s set to version %s (key %s)", alias, model, version, by,
             extra={"model": model, "version": version})
    return aliases(catalog, model)


def unpin_latest(catalog: Catalog, model: str, by: str | None) -> dict[str, Any]:
    _known(catalog, model)
    catalog.registry.unpin_latest(model)
    catalog.check(model)
    log.info("latest of %s unpinned (key %s)", model, by, extra={"model": model})
    return aliases(catalog, model)


def aliases(catalog: Catalog, model: str, details: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """What `latest` and `best` name and why: pinned or newest valid, promoted or set by hand, and by which key."""
    registry = catalog.registry
    valid = list(_valid_versions(catalog, model) if details is None else
                 {v: d for v, d in details.items() if d["valid"]})
    pin = registry.read_record(model, PINNED_LATEST)
    if pin is not None and pin.get("version") in valid:
        latest = {"version": pin["version"], "pinned": True, "set_by": pin.get("set_by")}
    else:
        latest = {"version": valid[-1] if valid else None, "pinned": False, "set_by": None}
    best = registry.read_record(model, BEST_POINTER)
    return {"latest": latest,
            "best": None if best is None else {"version": best.get("version"), "set_by": best.get("set_by")}}
