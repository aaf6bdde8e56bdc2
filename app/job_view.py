"""What a job's public view may show: its dataset by kind and name, never a path on the server.

Paths in a job's spec, errors and warnings would tell any key holder how the server's disks are laid out;
the last component names the dataset (or the file) as well as the whole path did.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

# an absolute path: a '/' that does not follow a word, another '/', a scheme's ':' or a '.' (so neither
# "N/minute" nor "http://host/x" nor "./x" counts), then its components; group 1 is the last one
_ABSOLUTE_PATH = re.compile(r"(?<![\w/:.~-])/(?:[^\s'\"/:,;()\[\]]+/)*([^\s'\"/:,;()\[\]]+)/?")


def hide_paths(text: str, known: list[str] = ()) -> str:
    """`text` with each absolute path, and each of the `known` paths however written, cut to its last component."""
    for path in sorted(filter(None, known), key=len, reverse=True):  # longest first: a path inside another
        text = text.replace(path, PurePosixPath(path).name or path)
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1), text)


def dataset_name(dataset: dict[str, Any]) -> str:
    """The directory's last component for idx and folder datasets, else the kind (fashion-mnist, synthetic)."""
    path = dataset.get("path")
    return PurePosixPath(path).name if path else dataset.get("kind", "")


def public_spec(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    dataset = {k: v for k, v in spec.get("dataset", {}).items() if k != "path"}
    dataset["name"] = dataset_name(spec.get("dataset", {}))
    return {**spec, "dataset": dataset}


def spec_paths(spec: dict[str, Any] | None) -> list[str]:
    """The server paths a spec names, for hide_paths."""
    path = ((spec or {}).get("dataset") or {}).get("path")
    return [path] if path else []
