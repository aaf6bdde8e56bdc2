"""What every image answer carries: the model and version that made it."""

from __future__ import annotations


def model_headers(version) -> dict[str, str]:
    """`version`: the catalog's entry for the version that answered."""
    return {"X-Model": version.name, "X-Model-Version": version.version}
