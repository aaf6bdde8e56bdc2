"""Validation of model and version names, so that neither can escape the registry root."""

from __future__ import annotations

import re

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_VERSION = re.compile(r"^[0-9]{1,12}$")
ALIASES = ("latest", "best")


class InvalidName(ValueError):
    pass


def validate_model_name(name: str) -> str:
    if not _MODEL_NAME.match(name) or ".." in name:
        raise InvalidName(
            f"invalid model name {name!r}: use 1-64 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit, and no '..'"
        )
    return name


def parse_version(version: str) -> int:
    """A concrete version's number; '7' and '000007' name the same version."""
    if not _VERSION.match(version):
        raise InvalidName(f"invalid version {version!r}: use a version number, 'latest' or 'best'")
    return int(version)


def format_version(number: int) -> str:
    return f"{number:06d}"
