"""Errors a client can cause, and the handlers that turn them into 4xx JSON answers."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from models.registry import RegistryUnavailable

log = logging.getLogger(__name__)


class NotFound(Exception):
    """404: an unknown model, version or job."""


class InvalidRequest(Exception):
    """422 naming the field to fix, in the same shape as FastAPI's own validation errors."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


class Unavailable(Exception):
    """503: a dependency (Redis, the registry) is down; generation may still work."""


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        # no echo of the input: it may be huge, or hold NaN that JSON cannot carry
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(InvalidRequest)
    async def _invalid(_: Request, exc: InvalidRequest) -> JSONResponse:
        detail = [{"loc": ["body", *exc.field.split(".")], "msg": exc.message, "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(RegistryUnavailable)
    async def _registry_unavailable(_: Request, exc: RegistryUnavailable) -> JSONResponse:
        log.warning("registry unavailable: %s", exc)
        return JSONResponse({"detail": f"the model registry cannot be read right now: {exc}"}, status_code=503,
                            headers={"Retry-After": "5"})

    @app.exception_handler(Unavailable)
    async def _unavailable(_: Request, exc: Unavailable) -> JSONResponse:
        log.warning("unavailable: %s", exc)
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})
