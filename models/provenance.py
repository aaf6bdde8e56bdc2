"""How an image was made: the model, version and weights, the seeds, labels and truncation, and the software,
as the text written into every image the service or the CLI hands out (models/image_text.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.metadata import version as package_version
from json.encoder import encode_basestring, encode_basestring_ascii

from models import image_text
from models.checkpoint import weights_sha256

SOFTWARE = f"gan-service {package_version('gan-service')}"


def _listed(values: list, ascii_only: bool) -> str:
    """A JSON array without its brackets: plain seeds read "1,2,3", as the X-Seeds header always has."""
    # flat lists of numbers or of class names, nearly every answer, are written here at a fifth of the time
    # json.dumps takes with arguments of its own (it builds an encoder per call), on every request
    if all(type(v) is int for v in values):
        return ",".join(map(str, values))
    if all(type(v) is str for v in values):
        return ",".join(map(encode_basestring_ascii if ascii_only else encode_basestring, values))
    return json.dumps(values, separators=(",", ":"), ensure_ascii=ascii_only)[1:-1]


@dataclass(frozen=True)
class Provenance:
    """`seeds` and `labels` (class names) follow the request's shape: one per image, a walk's start and end, or
    an arithmetic request's terms; None where the request had none."""

    model: str
    version: str
    weights_sha256: str
    seeds: list | None = None
    labels: list | None = None
    truncation: float = 1.0

    @classmethod
    def of(cls, version, seeds: list | None = None, labels: list | None = None,
           truncation: float = 1.0) -> Provenance:
        """`version`: what answered, anything with its `name`, `version` and `metadata` (catalog, runner)."""
        return cls(version.name, version.version, weights_sha256(version.metadata), seeds, labels, truncation)

    def facts(self, ascii_only: bool = False) -> dict[str, str]:
        """Every fact as text, under the keys docs/api.md lists; `ascii_only` escapes class names as JSON does."""
        facts = {"model": self.model, "version": self.version, "weights_sha256": self.weights_sha256}
        if self.seeds is not None:
            facts["seeds"] = _listed(self.seeds, ascii_only)
        if self.labels is not None:
            facts["labels"] = _listed(self.labels, ascii_only)
        facts["truncation"] = repr(float(self.truncation))
        facts["Software"] = SOFTWARE  # the key PNG readers show as the program that made the file
        return facts

    def stamp(self, data: bytes, media_type: str = "image/png") -> bytes:
        return image_text.with_text(data, media_type, self.facts())

    def of_image(self, index: int) -> Provenance:
        """The facts of one image of a per-image answer (a JSON list of PNGs, one per seed)."""
        return Provenance(self.model, self.version, self.weights_sha256,
                          None if self.seeds is None else [self.seeds[index]],
                          None if self.labels is None else [self.labels[index]], self.truncation)
