"""The message a worker publishes on Redis when a version lands, which every API replica listens for.

The app and the worker share nothing but this channel name and this JSON shape: {"model": ..., "version": ...}.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from models.names import format_version, parse_version, validate_model_name

VERSIONS_CHANNEL = "gan:versions"


@dataclass(frozen=True)
class VersionLanded:
    model: str
    version: str

    def encode(self) -> str:
        return json.dumps({"model": self.model, "version": self.version})

    @classmethod
    def decode(cls, data: bytes | str) -> "VersionLanded":
        """The message's model and version, checked; ValueError for anything else on the channel."""
        try:
            body = json.loads(data)
            model, version = body["model"], body["version"]
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f"not a version notification: {e}") from None
        if not isinstance(model, str) or not isinstance(version, str):
            raise ValueError("not a version notification: model and version must be strings")
        return cls(validate_model_name(model), format_version(parse_version(version)))
