"""What every image answer carries in its headers: the facts written into the image (models/provenance.py)."""

from __future__ import annotations

from models.provenance import Provenance

HEADERS = {"model": "X-Model", "version": "X-Model-Version", "weights_sha256": "X-Weights-SHA256",
           "seeds": "X-Seeds", "labels": "X-Labels", "truncation": "X-Truncation", "Software": "X-Software"}
PROVENANCE_HEADERS = tuple(HEADERS.values())


def provenance_headers(provenance: Provenance) -> dict[str, str]:
    # header values are ASCII: class names keep their JSON escapes
    return {HEADERS[key]: value for key, value in provenance.facts(ascii_only=True).items()}
