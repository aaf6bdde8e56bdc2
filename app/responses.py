"""What every image answer carries in its headers (the facts written into the image, models/provenance.py),
and how a pinned version's image answer is cached."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse

from models.provenance import Provenance

IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}

HEADERS = {"model": "X-Model", "version": "X-Model-Version", "weights_sha256": "X-Weights-SHA256",
           "seeds": "X-Seeds", "labels": "X-Labels", "truncation": "X-Truncation", "Software": "X-Software"}
PROVENANCE_HEADERS = tuple(HEADERS.values())


def provenance_headers(provenance: Provenance) -> dict[str, str]:
    # header values are ASCII: class names keep their JSON escapes
    return {HEADERS[key]: value for key, value in provenance.facts(ascii_only=True).items()}


def to_pinned(request: Request, asked: str, pinned: str) -> RedirectResponse:
    """A version's image URL asked by a moving name (latest, best) or another spelling, sent to the pinned
    version's URL, whose answer never changes and is cached as such."""
    return RedirectResponse(str(request.url).replace(f"/versions/{asked}/", f"/versions/{pinned}/"),
                            status_code=307, headers={"Cache-Control": "no-cache"})
