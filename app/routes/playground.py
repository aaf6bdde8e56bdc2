"""The browser playground: GET / answers its page; its script and styles are static files under /static."""

from __future__ import annotations

import typing
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from models.architectures import ARCHITECTURES
from models.spec import DatasetKind

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(tags=["playground"])


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/playground/options", summary="The choices the playground's training form offers")
def options() -> dict[str, list]:
    return {
        "architectures": [{"name": a.name, "conditional": a.conditional} for a in ARCHITECTURES.values()],
        # idx and folder datasets need a path under the server's data roots: the form offers the others
        "datasets": [k for k in typing.get_args(DatasetKind) if k not in ("idx", "folder")],
    }
