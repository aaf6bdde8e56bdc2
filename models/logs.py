"""Log set-up shared by the API and the worker: JSON lines in production, readable lines in development.

Every record carries `request_id`, `model` and `version` (None where they do not apply): the API's request
middleware sets the request id in a context variable, and code that concerns a model passes
`extra={"model": ..., "version": ...}`. Only the standard library and python-json-logger are used here.
"""

from __future__ import annotations

import contextvars
import logging
import sys

from pythonjsonlogger.json import JsonFormatter

FORMATS = ("json", "text")
CONTEXT_FIELDS = ("request_id", "model", "version")
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class ContextFilter(logging.Filter):
    """Gives every record the context fields, so formatters can name them without KeyError."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        for name in ("model", "version"):
            if not hasattr(record, name):
                setattr(record, name, None)
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [req=.. model=.. version=..] message`, the bracket only with what is known."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        parts = [f"{key}={getattr(record, key)}" for key in CONTEXT_FIELDS if getattr(record, key, None)]
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return super().format(record)


def json_formatter() -> logging.Formatter:
    # timestamp="time": an ISO 8601 UTC time under that key, which log shippers parse without a format
    return JsonFormatter("%(levelname)s %(name)s %(message)s %(request_id)s %(model)s %(version)s",
                         rename_fields={"levelname": "level", "name": "logger"}, timestamp="time")


def configure_logging(fmt: str = "text", level: str = "INFO") -> logging.Handler:
    """Install one stderr handler on the root logger (replacing the one a previous call installed) and
    route uvicorn's loggers through it; the app logs its own access lines, so uvicorn's are dropped."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; valid: {', '.join(FORMATS)}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_gan_service", False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._gan_service = True  # type: ignore[attr-defined]
    handler.addFilter(ContextFilter())
    handler.setFormatter(json_formatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True  # not even a record is made for it
    return handler
