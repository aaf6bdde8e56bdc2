"""Full evaluations of published versions, kept beside the registry since version directories never change.

`<registry root>/.evaluations/<model>/<version>.json` maps "<extractor>/n<N>" to one evaluate() result;
it lives in the writable root, so shipped (read-only) versions can be evaluated too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from models.names import format_version, parse_version, validate_model_name

EVALUATIONS_DIR = ".evaluations"


def _path(root: Path, model: str, version: str) -> Path:
    return root / EVALUATIONS_DIR / validate_model_name(model) / f"{format_version(parse_version(version))}.json"


def read(root: Path, model: str, version: str) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(_path(root, model, version).read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def write(root: Path, model: str, version: str, result: dict[str, Any]) -> str:
    """Add one result (replacing an earlier one of the same extractor and N); returns its key."""
    path = _path(root, model, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = f"{result['extractor']}/n{result['n_requested']}"
    data = read(root, model, version) | {key: result}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    return key
